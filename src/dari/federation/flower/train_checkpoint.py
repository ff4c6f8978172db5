"""The hub's checkpoint of a training run: the global model after each completed round, written atomically.

A run that stops (the hub restarts, the engine fails) resumes from the last completed round: the checkpoint holds
the global model (never a site's update), the pooled standardisation, the rounds each site was pooled, and the
fingerprint of the job's training parameters, so a checkpoint is taken up only by a job that trains the same
model the same way (a new job id and new tickets are fine; another spec, family or setting is refused).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from dari.atomic import atomic_path
from dari.errors import InputError
from dari.federation.flower.train_jobs import TrainRequest

#: Fields of a request that do not change what is trained (who asks, its tickets, how many rounds in all).
_NOT_TRAINING = {"job_id", "requester", "tickets", "audit_checkpoint", "expected_grants", "rounds", "datasets"}


def training_fingerprint(request: TrainRequest) -> str:
    """SHA-256 of the parameters that decide the trained model (spec, family, strategy, settings, rules)."""
    fields = request.model_dump(mode="json", exclude=_NOT_TRAINING)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class TrainCheckpoint(BaseModel):
    """The global model after `round` completed rounds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fingerprint: str
    round: int
    weights: tuple[float, ...] = ()
    trees: str = ""
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    base_score: float = 0.5
    pooled: tuple[tuple[str, ...], ...] = ()


def write_checkpoint(path: Path, checkpoint: TrainCheckpoint) -> None:
    """Replace the checkpoint file in one step (a crash mid-write leaves the previous round's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(checkpoint.model_dump_json(), encoding="utf-8")


def read_checkpoint(path: Path, request: TrainRequest) -> TrainCheckpoint | None:
    """The checkpoint to resume `request` from, None when there is none; refused when it trains something else."""
    if not path.is_file():
        return None
    try:
        checkpoint = TrainCheckpoint.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise InputError(f"unreadable training checkpoint ({type(exc).__name__})", file=str(path)) from None
    if checkpoint.fingerprint != training_fingerprint(request):
        raise InputError("the checkpoint is of another training (spec, model or settings differ)", file=str(path))
    if checkpoint.round > request.rounds:
        raise InputError(f"the checkpoint has {checkpoint.round} rounds, the job only {request.rounds}", file=str(path))
    return checkpoint
