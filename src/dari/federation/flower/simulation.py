"""Run a validation job in Flower's simulation engine over local site folders (one virtual SuperNode each).

The same ServerApp and ClientApp as a deployment run: virtual node `partition-id` i is site folder i, and the
grant checker travels inside the ClientApp to the Ray workers (so it must pickle; dari's three do).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from dari.disclosure import DisclosureRules
from dari.errors import DariError, InputError
from dari.federation.flower.grants import ANALYSIS_TYPE, GrantChecker
from dari.federation.flower.hub_app import HubJob, Progress, make_hub_app
from dari.federation.flower.jobs import JobRequest, ValidationRun
from dari.federation.flower.query_jobs import QueryRequest
from dari.federation.flower.site_app import SiteBinding, make_site_app
from dari.federation.ticket import hub_public_pem, issue_tickets, params_sha256
from dari.models import sha256_file
from dari.validation import ValidationSpec

if TYPE_CHECKING:
    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp


R = TypeVar("R", JobRequest, QueryRequest)


class FederationRunError(DariError):
    """The federated engine itself failed (not a site: those are reported in the run)."""


OFFLINE_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1", "RAY_USAGE_STATS_ENABLED": "0"}


def site_ids(sites: Sequence[Path]) -> list[str]:
    """Each site's id: its folder's name (`site-1` …), refused when two folders share a name."""
    ids = [Path(s).name for s in sites]
    if len(set(ids)) != len(ids):
        raise InputError(f"site folders must have distinct names, got {ids}")
    return ids


def build_job(
    sites: Sequence[Path],
    model_path: Path,
    spec_path: Path,
    *,
    requester: str,
    threshold: float,
    rules: DisclosureRules | None = None,
    expected_grants: dict[str, str] | None = None,
) -> tuple[JobRequest, bytes]:
    """The job request for these sites (dataset id `<site-id>-cdm`) and the model's bytes."""
    try:
        model_bytes, spec_json = model_path.read_bytes(), spec_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {exc.filename}: {exc.strerror}") from None
    job = JobRequest(
        requester=requester,
        datasets={s: f"{s}-cdm" for s in site_ids(sites)},
        expected_grants=expected_grants or {},
        model_sha256=sha256_file(model_path),
        spec_json=spec_json,
        validation=ValidationSpec(threshold=threshold),
        disclosure=rules or DisclosureRules(),
    )
    return job, model_bytes


def with_tickets(request: R, hub_store: str | Path, analysis_type: str, model_sha256: str | None) -> R:
    """The request with the hub's signed ticket for every site its grant covers (the coordinator acts for the hub
    on its store and key; each ticket is audited there as `job.ticket`)."""
    from dari.hub.audit_checkpoint import store_checkpoint

    tickets = issue_tickets(
        hub_store,
        job_id=request.job_id,
        requester=request.requester,
        datasets=request.datasets,
        analysis_type=analysis_type,
        model_sha256=model_sha256,
        params_hash=params_sha256(request),
    )
    # The hub's signed audit head after the tickets' own entries: every site keeps it as a witness.
    return request.model_copy(update={"tickets": tickets, "audit_checkpoint": store_checkpoint(hub_store)})


def run_validation(
    sites: Sequence[Path],
    model_path: Path,
    spec_path: Path,
    *,
    grant_checker: GrantChecker,
    requester: str,
    threshold: float = 0.5,
    rules: DisclosureRules | None = None,
    progress: Progress | None = None,
    num_cpus: int = 2,
    hub_store: str | Path | None = None,
    secure_histogram: bool = False,
) -> ValidationRun:
    """Validate the model at every site through Flower's simulation engine; per-site, pooled and meta results.

    With `hub_store` the hub issues the job's tickets and the simulated sites trust its key; without it, only a
    `SyntheticOnlyGrantChecker` (no governance, synthetic folders) admits the job.
    """
    job, model_bytes = build_job(sites, model_path, spec_path, requester=requester, threshold=threshold, rules=rules)
    job = job.model_copy(update={"secure_histogram": secure_histogram})  # signed with the job (its tickets)
    pem = None
    if hub_store is not None:
        job, pem = with_tickets(job, hub_store, ANALYSIS_TYPE, job.model_sha256), hub_public_pem(hub_store)
    hub_job = HubJob(request=job, model_bytes=model_bytes, engine="simulation", node_wait_s=5.0)
    if progress is not None:
        hub_job.progress = progress
    site_app = make_site_app(site_bindings(sites, rules, pem), grant_checker)
    simulate(make_hub_app(hub_job), site_app, len(sites), num_cpus)
    if not hub_job.result:
        raise FederationRunError("the simulation ended without a result (see the Flower log above)")
    return hub_job.result[0]


def site_bindings(
    sites: Sequence[Path], rules: DisclosureRules | None, hub_public_key: str | None = None
) -> dict[int, SiteBinding]:
    """Simulated node i is site i (dataset `<site-id>-cdm`, trusting `hub_public_key`); the caller owns these
    local folders, so their floor is the job's rules."""
    return {
        i: SiteBinding(
            site_id=s, folder=str(Path(f).resolve()), floor=rules or DisclosureRules(), hub_public_key=hub_public_key
        )
        for i, (s, f) in enumerate(zip(site_ids(sites), sites, strict=True))
    }


def simulate(server_app: ServerApp, client_app: ClientApp, num_supernodes: int, num_cpus: int) -> None:
    """Run a ServerApp/ClientApp pair in Flower's simulation engine, offline, with Ray's start-up errors named."""
    from flwr.simulation import run_simulation  # imports Ray: only when a simulation actually runs

    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    logging.getLogger("flwr").setLevel(logging.WARNING)
    try:
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=num_supernodes,
            backend_config={
                "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                "init_args": {"num_cpus": num_cpus, "num_gpus": 0, "include_dashboard": False, "log_to_driver": False},
            },
        )
    except RuntimeError as exc:  # Ray failed to start (an overloaded host) or a node crashed
        raise FederationRunError(f"the Flower simulation engine failed: {exc}") from exc
