"""Run a federated training job in Flower's simulation engine over local site folders, and write the model.

The same ServerApp and ClientApp as a deployment: virtual node i is site folder i (dataset `<site-id>-cdm`).
With `hub_store` the hub issues the job's tickets (analysis type `federated_training`, as many rounds as the job
asks) and the simulated sites trust its key; without it only a `SyntheticOnlyGrantChecker` admits the job.
`write_trained_model` turns the run into dari's model files: the ONNX pipeline every dari model uses and the
feature spec with its exact linear terms, so `dari validate` and the CDS service take it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dari.atomic import atomic_path
from dari.disclosure import DisclosureRules
from dari.errors import InputError
from dari.federation.flower.grants import GrantChecker
from dari.federation.flower.hub_app import Progress
from dari.federation.flower.simulation import FederationRunError, simulate, site_bindings, site_ids
from dari.federation.flower.train_apps import HubTrainJob, make_train_hub_app, make_train_site_app
from dari.federation.flower.train_checkpoint import read_checkpoint
from dari.federation.flower.train_jobs import TRAINING_ANALYSIS, Strategy, TrainRequest, TrainRun
from dari.federation.ticket import hub_public_pem, issue_tickets, params_sha256
from dari.models.feature_spec import dump_spec


def build_training(
    sites: Sequence[Path],
    spec_path: Path,
    *,
    requester: str,
    strategy: Strategy = "fedavg",
    rounds: int = 20,
    rules: DisclosureRules | None = None,
    **settings: float | int | str,
) -> TrainRequest:
    """The training request for these sites (dataset id `<site-id>-cdm`), its spec read and checked."""
    try:
        spec_json = spec_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {spec_path}: {exc.strerror}") from None
    request = TrainRequest(
        requester=requester,
        datasets={s: f"{s}-cdm" for s in site_ids(sites)},
        spec_json=spec_json,
        strategy=strategy,
        rounds=rounds,
        disclosure=rules or DisclosureRules(),
        **settings,
    )
    request.spec()  # an unreadable spec is refused here, not at every site
    return request


def with_training_tickets(request: TrainRequest, hub_store: str | Path) -> TrainRequest:
    """The request with the hub's signed ticket for every site the grant covers, for all of its rounds."""
    from dari.hub.audit_checkpoint import store_checkpoint

    tickets = issue_tickets(
        hub_store,
        job_id=request.job_id,
        requester=request.requester,
        datasets=request.datasets,
        analysis_type=TRAINING_ANALYSIS,
        model_sha256=None,
        params_hash=params_sha256(request),
        max_rounds=request.rounds,
    )
    return request.model_copy(update={"tickets": tickets, "audit_checkpoint": store_checkpoint(hub_store)})


def run_training(
    sites: Sequence[Path],
    request: TrainRequest,
    *,
    grant_checker: GrantChecker,
    hub_store: str | Path | None = None,
    progress: Progress | None = None,
    num_cpus: int = 2,
    checkpoint: Path | None = None,
    site_max_rounds: dict[str, int] | None = None,
) -> TrainRun:
    """Train at every site through Flower's simulation engine; the pooled model and who trained it.

    With `checkpoint` the global model is written there after every round, and a run finding one of the same
    training resumes from its last completed round. `site_max_rounds` is a site's own node-config limit on rounds
    (a site that stops answering after it: the run goes on with the others and says so).
    """
    pem = None
    if hub_store is not None:
        request, pem = with_training_tickets(request, hub_store), hub_public_pem(hub_store)
    resume = read_checkpoint(checkpoint, request) if checkpoint is not None else None
    job = HubTrainJob(request=request, node_wait_s=5.0, checkpoint=checkpoint, resume=resume)
    if progress is not None:
        job.progress = progress
    limits = site_max_rounds or {}
    bindings = {
        i: b.model_copy(update={"max_rounds": min(request.rounds, limits.get(b.site_id, request.rounds))})
        for i, b in site_bindings(sites, request.disclosure, pem).items()
    }
    for attempt in (1, 2):
        try:
            simulate(make_train_hub_app(job), make_train_site_app(bindings, grant_checker), len(sites), num_cpus)
            break
        except FederationRunError as exc:
            # Ray's raylet must register within a fixed 30 s; on an overloaded host it may not. Nothing reached a
            # site then (no ClientApp ran, no result), so one fresh start is safe; any other failure is not retried.
            if attempt == 2 or job.result or not _ray_did_not_start(exc):
                raise
            if progress is not None:
                progress("the simulation engine did not start (an overloaded host): starting it once more")
    if not job.result:
        raise FederationRunError("the training ended without a model (no site admitted the job; see the log)")
    return job.result[0]


def _ray_did_not_start(exc: BaseException) -> bool:
    """Whether the failure's chain is Ray's node start-up timeout."""
    seen: BaseException | None = exc
    while seen is not None:
        if "timed out during startup" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def write_trained_model(run: TrainRun, request: TrainRequest, out: Path) -> tuple[Path, Path]:
    """`model.onnx` and `features.json` of the trained model (a logistic model's with its exact linear terms),
    written atomically."""
    from dari.training.export import export_boosted, export_mlp, export_model

    spec = request.spec()
    if run.model == "xgboost":
        onnx_bytes, written = export_boosted(run.trees.encode("utf-8"), len(run.feature_names)), spec
    elif run.model == "mlp":
        onnx_bytes, written = export_mlp(run.weights, run.mean, run.scale, run.hidden), spec
    else:
        onnx_bytes, linear = export_model(run.weights, run.mean, run.scale, spec)
        written = spec.model_copy(update={"linear_model": linear})
    if run.model != "logistic":  # the reference spec's linear terms are another model's: never claim them
        written = written.model_copy(update={"linear_model": None})
    out.mkdir(parents=True, exist_ok=True)
    model_path, spec_path = out / "model.onnx", out / "features.json"
    with atomic_path(model_path) as tmp:
        tmp.write_bytes(onnx_bytes)
    with atomic_path(spec_path) as tmp:
        tmp.write_text(dump_spec(written), encoding="utf-8")
    return model_path, spec_path
