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
from dari.disclosure import DisclosureRefusedError, require_min_cell
from dari.errors import DariError
from dari.federation.flower.grants import GrantChecker
from dari.federation.flower.train_jobs import TRAINING_ANALYSIS, TrainRequest, TrainStats, TrainUpdate
from dari.federation.guard import Admission, JobClaim, SiteBinding, SiteGuard
from dari.federation.ticket import params_sha256
from dari.models.cdm_features import extract_cohort_features
from dari.training import LogisticProblem, local_update, standardise
from dari.training.dp import DpSettings, dp_local_update


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
    )
    return stats, TrainingCohort(x, y, n.value)


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


def site_update(
    cohort: TrainingCohort,
    weights: np.ndarray,
    mean: list[float],
    scale: list[float],
    problem: LogisticProblem,
    dp: DpSettings | None = None,
) -> TrainUpdate:
    """One round's local update on the site's rows, weighted by its protected cohort size (DP-SGD when `dp`)."""
    if weights.shape != (cohort.x.shape[1] + 1,) or not np.isfinite(weights).all():
        raise DisclosureRefusedError("the broadcast model does not fit this job's inputs")
    z = standardise(cohort.x, mean, scale)
    w = (
        local_update(weights, z, cohort.y, problem)
        if dp is None
        else dp_local_update(weights, z, cohort.y, problem, dp)
    )
    if not np.isfinite(w).all():  # never sent: the hub would average a NaN into every site's model
        raise DariError("the local update is not finite (the learning rate may be too large)")
    return TrainUpdate(num_examples=cohort.num_examples, weights=tuple(w.tolist()))
