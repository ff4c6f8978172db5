"""Validation, query and training jobs on the local consortium: the same requests as the simulation engine's,
written to the job's folder and submitted to the SuperLink; the result is what the deployed hub app wrote."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from dari.disclosure import DisclosureRules
from dari.federation.consortium.local import ConsortiumState, job_folder, submit
from dari.federation.flower.grants import ANALYSIS_TYPE
from dari.federation.flower.jobs import ValidationRun
from dari.federation.flower.query_jobs import QueryKind, QueryRun
from dari.federation.flower.train_jobs import TrainRequest, TrainRun


def validate_on(
    state: ConsortiumState,
    sites: Sequence[Path],
    model_path: Path,
    spec_path: Path,
    *,
    requester: str,
    threshold: float = 0.5,
    rules: DisclosureRules | None = None,
    hub_store: str | Path | None = None,
) -> ValidationRun:
    """The validation job of `simulation.run_validation`, run by the consortium's deployed apps."""
    from dari.federation.flower.simulation import build_job, with_tickets

    job, model_bytes = build_job(sites, model_path, spec_path, requester=requester, threshold=threshold, rules=rules)
    if hub_store is not None:
        job = with_tickets(job, hub_store, ANALYSIS_TYPE, job.model_sha256)
    folder = job_folder(state, job.job_id)
    job_file, model_file, result = folder / "job.json", folder / "model.onnx", folder / "result.json"
    job_file.write_text(job.model_dump_json(), encoding="utf-8")
    model_file.write_bytes(model_bytes)
    submit(state, "validation", {"job-file": job_file, "model-file": model_file}, result)
    return ValidationRun.model_validate_json(result.read_text(encoding="utf-8"))


def query_on(
    state: ConsortiumState,
    sites: Sequence[Path],
    kind: QueryKind,
    definition_path: Path,
    *,
    request_path: Path | None = None,
    requester: str,
    rules: DisclosureRules | None = None,
    age_band_years: Literal[5, 10] = 10,
    hub_store: str | Path | None = None,
) -> QueryRun:
    """The query job of `query_simulation.run_query`, run by the consortium's deployed apps."""
    from dari.federation.flower.query_simulation import build_query
    from dari.federation.flower.simulation import with_tickets

    request = build_query(
        sites,
        kind,
        definition_path,
        request_path=request_path,
        requester=requester,
        rules=rules,
        age_band_years=age_band_years,
    )
    if hub_store is not None:
        request = with_tickets(request, hub_store, request.analysis_type, None)
    folder = job_folder(state, request.job_id)
    request_file, result = folder / "request.json", folder / "result.json"
    request_file.write_text(request.model_dump_json(), encoding="utf-8")
    submit(state, "query", {"request-file": request_file}, result)
    return QueryRun.model_validate_json(result.read_text(encoding="utf-8"))


def train_on(state: ConsortiumState, request: TrainRequest, *, hub_store: str | Path | None = None) -> TrainRun:
    """The training job of `train_simulation.run_training`, run by the consortium's deployed apps."""
    from dari.federation.flower.train_simulation import with_training_tickets

    if hub_store is not None:
        request = with_training_tickets(request, hub_store)
    folder = job_folder(state, request.job_id)
    request_file, result = folder / "request.json", folder / "result.json"
    request_file.write_text(request.model_dump_json(), encoding="utf-8")
    submit(state, "training", {"request-file": request_file}, result)
    return TrainRun.model_validate_json(result.read_text(encoding="utf-8"))
