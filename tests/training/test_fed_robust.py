"""Robust training at the hub: NaN and misshapen updates refused, a poisoned update outvoted (Flower's
FedTrimmedAvg, Krum), the global model checkpointed each round and a run resumed from it, dropouts named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from dari.disclosure import DisclosureRules
from dari.errors import InputError
from dari.federation.flower.site_app import PAYLOAD
from dari.federation.flower.train_apps import HubTrainJob, RoundLog, _dropped_out, initial_model, make_strategy
from dari.federation.flower.train_checkpoint import read_checkpoint
from dari.federation.flower.train_jobs import TrainRequest
from dari.models.reference import reference_model_paths

D = 5  # the reference spec's inputs; a logistic model has D + 1 parameters


@pytest.fixture(autouse=True)
def _task_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flower stamps every Message with the running task's id: give these hub-side tests one."""
    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)


def _request(**kw: object) -> TrainRequest:
    spec = reference_model_paths().spec.read_text(encoding="utf-8")
    return TrainRequest(requester="r", datasets={"a": "a-cdm"}, spec_json=spec, disclosure=DisclosureRules(), **kw)


def _reply(site: str, weights: np.ndarray, n: int = 100) -> Message:
    sent = Message(RecordDict({"config": ConfigRecord({"x": 1})}), dst_node_id=7, message_type="train")
    content = RecordDict(
        {
            "arrays": ArrayRecord(numpy_ndarrays=[weights]),
            "metrics": MetricRecord({"num-examples": n}),
            PAYLOAD: ConfigRecord({"site": site}),
        }
    )
    return Message(content, reply_to=sent)


def _aggregate(request: TrainRequest, replies: list[Message], tmp: Path | None = None) -> tuple[np.ndarray, list[str]]:
    notes: list[str] = []
    job = HubTrainJob(request=request, progress=notes.append, checkpoint=tmp)
    log = RoundLog(mean=[0.0] * D, scale=[1.0] * D)
    arrays, _ = make_strategy(job, D + 1, log).aggregate_train(1, replies)
    assert arrays is not None
    (w,) = arrays.to_numpy_ndarrays()
    return w, [*notes, ",".join(log.pooled[-1])]


def test_fed_robust_nan_and_misshapen_updates_never_reach_the_average() -> None:
    honest = np.full(D + 1, 0.5)
    w, notes = _aggregate(
        _request(),
        [_reply("site-1", honest), _reply("site-2", np.full(D + 1, np.nan)), _reply("site-3", np.ones(D + 3))],
    )
    assert np.array_equal(w, honest)
    assert sum("refused by the hub's re-check" in n for n in notes) == 2 and notes[-1] == "site-1"


@pytest.mark.parametrize(("aggregation", "tolerance"), [("mean", None), ("trimmed_mean", 0.02), ("krum", 0.02)])
def test_fed_robust_poisoned_update_is_outvoted_by_trimmed_mean_and_krum(
    aggregation: str, tolerance: float | None
) -> None:
    # Prepare: three honest sites near 0.5, one poisoned site sending 1,000× (a model replacement attack)
    rng = np.random.default_rng(0)
    honest = [np.full(D + 1, 0.5) + rng.normal(0, 0.005, D + 1) for _ in range(3)]
    replies = [_reply(f"site-{i}", w) for i, w in enumerate(honest, 1)] + [_reply("evil", np.full(D + 1, 500.0))]
    # Execute
    w, _ = _aggregate(_request(aggregation=aggregation, trim_beta=0.25, krum_malicious=1), replies)
    # Assert: the plain mean is dragged off by the attacker; the robust options stay with the honest sites
    if tolerance is None:
        assert np.abs(w - 0.5).min() > 100
    else:
        assert np.abs(w - 0.5).max() < tolerance


def test_fed_robust_checkpoint_each_round_and_resume_only_the_same_training(tmp_path: Path) -> None:
    # Prepare / Execute: one aggregated round with a checkpoint file
    request = _request(rounds=10)
    target = tmp_path / "hub" / "checkpoint.json"
    w, _ = _aggregate(request, [_reply("site-1", np.full(D + 1, 0.25)), _reply("site-2", np.full(D + 1, 0.75))], target)
    # Assert: the checkpoint holds the aggregate (never a site's update), and resumes a job of the same training
    later = request.model_copy(update={"job_id": "train-again", "rounds": 20})
    resumed = read_checkpoint(target, later)
    assert resumed is not None and resumed.round == 1 and resumed.pooled == (("site-1", "site-2"),)
    assert np.array_equal(initial_model(later, resumed), w) and np.allclose(w, 0.5)
    assert not list(target.parent.glob("*.tmp"))  # written atomically: no temporary left behind
    with pytest.raises(InputError, match="another training"):
        read_checkpoint(target, request.model_copy(update={"l2": 0.5}))
    assert read_checkpoint(tmp_path / "none.json", request) is None


def test_fed_robust_dropped_out_sites_are_named_with_their_first_missing_round() -> None:
    pooled = [["a", "b", "c"], ["a", "b", "c"], ["a", "c"], ["a", "c"], ["a"]]
    assert _dropped_out(pooled, 0) == {"b": 3, "c": 5}
    assert _dropped_out(pooled, 10) == {"b": 13, "c": 15}


def test_fed_robust_only_rays_start_up_timeout_is_retried() -> None:
    from dari.federation.flower.simulation import FederationRunError
    from dari.federation.flower.train_simulation import _ray_did_not_start

    try:
        try:
            raise Exception("The current node timed out during startup. This could happen because …")
        except Exception as inner:
            raise RuntimeError("Simulation Runtime crashed.") from inner
    except RuntimeError as middle:
        wrapped = FederationRunError(f"the Flower simulation engine failed: {middle}")
        wrapped.__cause__ = middle
    assert _ray_did_not_start(wrapped)
    assert not _ray_did_not_start(FederationRunError("a node crashed"))
