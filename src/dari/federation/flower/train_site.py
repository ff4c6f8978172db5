"""Site side of a training job, without Flower: admission through the guard, the cohort's moments, local updates.

`admit_training` runs the one site guard (this site's dataset, the hub's ticket, the grant for
`federated_training`, the site's floor), extracts the spec's cohort from the CDM, and records the cohort's person
set in the release ledger — so a second training job on a cohort one person different from an earlier release is
refused, and with it the difference of two models. Rows stay at the site (in the node's state); every later round
passes `SiteGuard.run_admitted` and its round limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dari.cdm.store import open_store
from dari.disclosure import DisclosureRefusedError, DisclosureRules, require_min_cell
from dari.errors import DariError, InputError
from dari.federation.flower.grants import GrantChecker
from dari.federation.flower.train_jobs import TRAINING_ANALYSIS, TrainRequest, TrainStats, TrainUpdate
from dari.federation.guard import Admission, JobClaim, SiteBinding, SiteGuard
from dari.federation.ticket import params_sha256
from dari.models.cdm_features import extract_cohort_features
from dari.training import LogisticProblem, local_update, standardise
from dari.training.boosted import BoostingProblem, boosted_local_update, check_trees, require_leaf_cells
from dari.training.dp import DpSettings, dp_local_update
from dari.training.mlp import MlpShape, mlp_local_update


@dataclass
class TrainingCohort:
    """The rows a site trains on (kept at the site) and the protected weight its updates carry."""

    x: np.ndarray
    y: np.ndarray
    num_examples: int


def train_claim(job: TrainRequest) -> JobClaim:
    """What a training job claims, for the site guard (the parameters' hash computed here, at the site)."""
    return JobClaim(
        job_id=job.job_id,
        requester=job.requester,
        analysis_type=TRAINING_ANALYSIS,
        datasets=job.datasets,
        model_sha256=None,
        params_sha256=params_sha256(job),
        tickets=job.tickets,
        expected_grants=job.expected_grants,
        audit_checkpoint=job.audit_checkpoint,
    )


def _cohort(job: TrainRequest, admission: Admission) -> tuple[TrainStats, TrainingCohort]:
    spec, rules = job.spec(), admission.rules
    store = open_store(Path(admission.site_folder))
    try:
        frame = extract_cohort_features(store, spec)
    finally:
        store.close()
    batch = frame.inputs(spec)
    keep = batch.scorable
    x, y, ids = batch.x[keep].astype(np.float64), frame.y[keep].astype(np.float64), frame.person_id[keep]
    data_from, data_to = _data_months(frame.index_date[keep], rules.min_cell)
    events = int(y.sum())
    require_min_cell(len(y), "rows", rules)
    require_min_cell(events, "events", rules)
    require_min_cell(len(y) - events, "non-events", rules)
    ledger = admission.open_ledger()
    try:
        with ledger.release() as release:  # the cohort and its events: the sets every update is computed on
            n = release.count("training:cohort", ids)
            n_events = release.count("training:events", ids[y == 1.0])
    finally:
        ledger.close()
    if n.value is None:  # pragma: no cover - require_min_cell above makes this unreachable
        raise DisclosureRefusedError("the training cohort is below the minimum cell")
    stats = TrainStats(
        site_id=admission.site_id,
        dataset_id=admission.dataset_id,
        status="ok",
        grant_id=admission.grant_id,
        n=n,
        events=n_events,
        mean=tuple(x.mean(axis=0).tolist()),
        variance=tuple(x.var(axis=0).tolist()),
        data_from=data_from,
        data_to=data_to,
    )
    return stats, TrainingCohort(x, y, n.value)


def _data_months(dates: np.ndarray, min_cell: int) -> tuple[str, str]:
    """The cohort's index-date range by month, from its min_cell-th earliest to its min_cell-th latest date, so
    that no one person's date is the range's end."""
    if dates.size < min_cell or min_cell < 1:
        return "", ""
    ordered = np.sort(dates.astype("datetime64[D]"))
    first, last = ordered[min_cell - 1], ordered[-min_cell]
    return str(first.astype("datetime64[M]")), str(last.astype("datetime64[M]"))


def admit_training(
    job: TrainRequest, site: SiteBinding, checker: GrantChecker
) -> tuple[TrainStats, TrainingCohort | None, Admission | None]:
    """The admission round: the site's moments (or its refusal), its rows and its admission (kept at the site)."""
    outcome = SiteGuard(site, checker).run(train_claim(job), job.disclosure, lambda a: _cohort(job, a))
    if outcome.result is not None:
        stats, cohort = outcome.result
        return stats, cohort, outcome.admission
    failed = TrainStats(
        site_id=site.site_id,
        dataset_id=outcome.dataset_id,
        status=outcome.status,
        reason=outcome.reason,
        grant_id=outcome.grant_id,
    )
    return failed, None, None


def problem_of(job: TrainRequest) -> LogisticProblem:
    """The local optimisation of the admitted job (signed by the hub's ticket, never the round's message)."""
    mu = job.proximal_mu if job.strategy == "fedprox" else 0.0
    return LogisticProblem(l2=job.l2, local_steps=job.local_steps, learning_rate=job.learning_rate, proximal_mu=mu)


def boosting_of(job: TrainRequest, base_score: float, rules: DisclosureRules | None = None) -> BoostingProblem:
    """xgboost's parameters for the job; `min_child_weight` so that every leaf holds ≥ min_cell rows.

    A row's hessian p(1 − p) is at most 1/4, so a leaf whose hessian sum reaches min_cell/4 holds ≥ min_cell rows.
    """
    return BoostingProblem(
        max_depth=job.max_depth,
        eta=job.eta,
        local_trees=job.local_trees,
        base_score=base_score,
        l2=max(job.l2, 1e-6),
        min_child_weight=(rules or job.disclosure).min_cell / 4,
    )


def site_update(
    cohort: TrainingCohort,
    job: TrainRequest,
    broadcast: np.ndarray,
    mean: list[float],
    scale: list[float],
    base_score: float = 0.5,
    rules: DisclosureRules | None = None,
    dp: DpSettings | None = None,
) -> TrainUpdate:
    """One round's local update on the site's rows, weighted by its protected cohort size (DP-SGD when `dp`)."""
    d = cohort.x.shape[1]
    if dp is not None and job.model != "logistic":
        raise DisclosureRefusedError("differential privacy (DP-SGD) is available for the logistic model only")
    if job.model == "xgboost":
        return _boosted_update(cohort, job, broadcast, base_score, rules or job.disclosure)
    size = MlpShape(d, job.hidden).size if job.model == "mlp" else d + 1
    if broadcast.shape != (size,) or not np.isfinite(broadcast).all():
        raise DisclosureRefusedError("the broadcast model does not fit this job's inputs")
    z = standardise(cohort.x, mean, scale)
    if job.model == "mlp":
        w = mlp_local_update(broadcast, z, cohort.y, MlpShape(d, job.hidden), problem_of(job))
    elif dp is not None:
        w = dp_local_update(broadcast, z, cohort.y, problem_of(job), dp)
    else:
        w = local_update(broadcast, z, cohort.y, problem_of(job))
    if not np.isfinite(w).all():  # never sent: the hub would average a NaN into every site's model
        raise DariError("the local update is not finite (the learning rate may be too large)")
    return TrainUpdate(num_examples=cohort.num_examples, weights=tuple(w.tolist()))


def _boosted_update(
    cohort: TrainingCohort, job: TrainRequest, broadcast: np.ndarray, base_score: float, rules: DisclosureRules
) -> TrainUpdate:
    if broadcast.dtype != np.uint8 or broadcast.ndim != 1:
        raise DisclosureRefusedError("the broadcast model is not an xgboost model")
    model = broadcast.tobytes()
    try:
        if model:
            check_trees(model, cohort.x.shape[1])
        trees = boosted_local_update(model, cohort.x, cohort.y, boosting_of(job, base_score, rules))
    except InputError as exc:
        raise DisclosureRefusedError(f"the broadcast model does not fit this job's inputs: {exc}") from None
    require_leaf_cells(trees, cohort.x, rules)
    return TrainUpdate(num_examples=cohort.num_examples, trees=trees.decode("utf-8"))
