"""From training to evidence: train at some sites, validate externally at the others, card, report, registry.

`train_and_validate` trains a model at the training sites (`run_training`), writes it as dari's model files, runs
the existing validation job (`run_validation`, the same site guard and disclosure control) at the held-out sites
only, writes the results file, the CHAI card with the training record and the bilingual validation report, and
— with a hub store — registers the model and submits the report in the hub registry, so that the held-out site's
deployment approver decides on it through the existing deployment gate (`deployment_allowed` says no until then).
`leave_one_site_out` does this once per site: train on the others, validate on the one held out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dari.atomic import atomic_path
from dari.federation.flower.grants import GrantChecker
from dari.federation.flower.hub_app import Progress
from dari.federation.flower.simulation import run_validation
from dari.federation.flower.train_jobs import TrainRequest, TrainRun
from dari.federation.flower.train_simulation import run_training, write_trained_model
from dari.models.model_card import dump_card


@dataclass(frozen=True)
class Evidence:
    """What one train-then-validate step wrote and what the hub registry says of it."""

    run: TrainRun
    model: Path
    spec: Path
    card: Path
    results: Path
    reports: tuple[Path, ...]
    validated_at: tuple[str, ...]
    external: dict[str, float | None]
    report_id: str | None = None
    gate: dict[str, str] | None = None  # held-out site → the deployment gate's answer now


def _write_json(path: Path, doc: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def register_and_submit(
    hub_store: Path, requester: str, model: Path, card: dict[str, Any], results: dict[str, Any]
) -> tuple[str, dict[str, str]]:
    """Register the model and submit its external validation in the hub registry (as the requester); the report's
    id and the gate's answer at each validated site (no until its deployment approver approves)."""
    from dari.hub.db.engine import make_engine, require_schema, session_factory
    from dari.hub.governance.deployment import deployment_allowed, register_model, submit_report
    from dari.hub.governance.users import get_user
    from dari.models import sha256_file

    sha = sha256_file(model)
    engine = make_engine(hub_store)
    try:
        require_schema(engine)
        with session_factory(engine)() as session, session.begin():
            actor = get_user(session, requester)
            register_model(session, actor, sha, card)
            report = submit_report(session, actor, sha, results)
            gate = {s: deployment_allowed(session, sha, s).reason for s in report.sites}
            return report.id, gate
    finally:
        engine.dispose()


def train_and_validate(
    train_sites: Sequence[Path],
    validate_sites: Sequence[Path],
    request: TrainRequest,
    out: Path,
    *,
    grant_checker: GrantChecker,
    hub_store: Path | None = None,
    progress: Progress | None = None,
    threshold: float = 0.2,
    base_card: Path | None = None,
    command: str = "dari train",
    checkpoint: Path | None = None,
    reports: bool = True,
    train: Callable[..., TrainRun] = run_training,
) -> Evidence:
    """Train at `train_sites`, validate at `validate_sites` (sites that did not train), write the evidence."""
    from dari.cli.validate import result_json
    from dari.models.reference import reference_model_paths
    from dari.training.card import federated_card

    run = train(
        train_sites, request, grant_checker=grant_checker, hub_store=hub_store, progress=progress, checkpoint=checkpoint
    )
    model, spec = write_trained_model(run, request, out)
    _write_json(out / "training.json", json.loads(run.model_dump_json()))
    validation = run_validation(
        validate_sites,
        model,
        spec,
        grant_checker=grant_checker,
        requester=request.requester,
        threshold=threshold,
        rules=request.disclosure,
        progress=progress,
        hub_store=hub_store,
    )
    doc = result_json(validation, None)
    results = out / "validation" / "results.json"
    _write_json(results, doc)
    card = federated_card(
        run,
        request,
        model,
        spec,
        base_card=base_card or reference_model_paths().card,
        validations=[doc],
        command=command,
    )
    card_path = out / "model_card.json"
    with atomic_path(card_path) as tmp:
        tmp.write_text(dump_card(card), encoding="utf-8")
    written: list[Path] = []
    if reports and validation.covered:
        from dari.reports import load_results, render_report, write_report

        inputs = load_results(results)
        written = [
            p for lang in ("ko", "en") for p in write_report(render_report(inputs, card, lang), out / "validation")
        ]
    report_id, gate = None, None
    if hub_store is not None and validation.covered:
        report_id, gate = register_and_submit(hub_store, request.requester, model, card.model_dump(mode="json"), doc)
    return Evidence(
        run=run,
        model=model,
        spec=spec,
        card=card_path,
        results=results,
        reports=tuple(written),
        validated_at=tuple(validation.covered),
        external={s: e.get("auroc") for s, e in doc["sites"].items()},
        report_id=report_id,
        gate=gate,
    )


def leave_one_site_out(
    sites: Sequence[Path],
    request_for: Callable[[Sequence[Path]], TrainRequest],
    out: Path,
    *,
    held_out: Sequence[str] | None = None,
    **kwargs: Any,
) -> dict[str, Evidence]:
    """For each site (or each of `held_out`): train on the other sites, validate at it; evidence under out/<site>."""
    chosen = list(held_out) if held_out is not None else [s.name for s in sites]
    evidence = {}
    for name in chosen:
        others = [s for s in sites if s.name != name]
        target = [s for s in sites if s.name == name]
        evidence[name] = train_and_validate(others, target, request_for(others), out / f"held-out-{name}", **kwargs)
    return evidence
