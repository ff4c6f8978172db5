"""Site side of a validation job, without Flower: the site guard, model check, scoring, protected aggregates.

`run_site_job` passes the job through `dari.federation.guard.SiteGuard` (this site's own dataset, the hub's
ticket, the grant, the site's rules, the site's audit: no data is opened before a yes), then checks the model's
hash, extracts features from the site's own CDM, scores with ONNX, computes the statistics of `dari.validation`
under the site-enforced rules. It never raises: a refusal or a failure is a report with a reason.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dari.cdm.store import open_store
from dari.errors import InputError
from dari.federation.flower.grants import ANALYSIS_TYPE, GrantChecker
from dari.federation.flower.jobs import JobRequest, SiteReport
from dari.federation.guard import Admission, JobClaim, SiteBinding, SiteGuard
from dari.federation.ticket import params_sha256
from dari.models import FeatureSpec, OnnxModel, extract_cohort_features
from dari.models.cdm_features import CohortFrame
from dari.validation import (
    UndefinedMetricWarning,
    evaluate_subgroups,
    site_metrics,
    site_sufficient_statistics,
)


@dataclass(frozen=True)
class ScoredCohort:
    """A site's scored cohort; row-level, so it never leaves the site (only `--centralised` on synthetic data)."""

    person_id: np.ndarray
    y: np.ndarray  # bool
    p: np.ndarray  # float64
    cohort_n: int
    unscored: int
    groups: dict[str, np.ndarray]  # grouping variable → one label per scored row
    unscored_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # for the release ledger


def _groups(frame: CohortFrame, keep: np.ndarray) -> dict[str, np.ndarray]:
    """Sex, age band and every yes/no input as subgroup labels of the scored rows ("missing" where unknown)."""
    groups = {"sex": np.where(frame.sex == "", "unknown", frame.sex)[keep], "age_band": frame.age_band[keep]}
    for name, raw in frame.raw.items():
        values = raw[keep]
        if np.isin(values[~np.isnan(values)], (0.0, 1.0)).all():
            groups[name] = np.where(np.isnan(values), "missing", np.where(values == 1.0, "yes", "no"))
    return groups


def score_site(folder: Path, model: OnnxModel, spec: FeatureSpec) -> ScoredCohort:
    """Extract the spec's cohort from the site's CDM and score every scorable member (refused on NaN scores)."""
    store = open_store(folder)
    try:
        frame = extract_cohort_features(store, spec)
    finally:
        store.close()
    batch = frame.inputs(spec)
    keep = batch.scorable
    p = model.predict_proba(batch.x[keep]) if keep.any() else np.zeros(0)
    return ScoredCohort(
        frame.person_id[keep],
        frame.y[keep],
        np.asarray(p, np.float64),
        len(frame),
        int((~keep).sum()),
        _groups(frame, keep),
        frame.person_id[~keep],
    )


def load_job_model(job: JobRequest, model_bytes: bytes | None) -> OnnxModel:
    """The job's model, from the bytes sent or the path named, refused unless its SHA-256 is the declared one."""
    if model_bytes is not None:
        with tempfile.TemporaryDirectory(prefix="dari-job-") as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(model_bytes)
            return OnnxModel.load(path, spec=job.spec(), expected_sha256=job.model_sha256)
    if job.model_path is None:
        raise InputError("the job carries neither the model's bytes nor a path to it")
    return OnnxModel.load(Path(job.model_path), spec=job.spec(), expected_sha256=job.model_sha256)


def job_claim(job: JobRequest) -> JobClaim:
    """What a validation job claims, for the site guard (its parameters' hash computed here, at the site)."""
    return JobClaim(
        job_id=job.job_id,
        requester=job.requester,
        analysis_type=ANALYSIS_TYPE,
        datasets=job.datasets,
        model_sha256=job.model_sha256,
        params_sha256=params_sha256(job),
        tickets=job.tickets,
        expected_grants=job.expected_grants,
        audit_checkpoint=job.audit_checkpoint,
    )


def _validate(job: JobRequest, model_bytes: bytes | None, admission: Admission) -> tuple[SiteReport, ScoredCohort]:
    """The job's work once admitted: model check, scoring, statistics under the site-enforced rules."""
    model = load_job_model(job, model_bytes)
    scored = score_site(Path(admission.site_folder), model, job.spec())
    rules, spec, ids = admission.rules, job.validation, scored.person_id
    ledger = admission.open_ledger()
    try:
        with warnings.catch_warnings(), ledger.release() as release:  # every figure of the report: one release
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            metrics = site_metrics(scored.y, scored.p, spec, rules, ledger=ledger, person_ids=ids)
            stats = site_sufficient_statistics(scored.y, scored.p, spec, rules, ledger=ledger, person_ids=ids)
            # JobRequest allows only sex, age band and the spec's yes/no inputs, all of which `_groups` holds
            groups = {g: scored.groups[g] for g in job.subgroups}
            subgroups = evaluate_subgroups(scored.y, scored.p, groups, spec, rules, ledger=ledger, person_ids=ids)
            cohort = release.count("validation:cohort", np.concatenate([ids, scored.unscored_id]))
            unscored = release.count("validation:unscored", scored.unscored_id)
    finally:  # a refusal (DisclosureRefusedError) records nothing; the guard reports it as refused
        ledger.close()
    report = SiteReport(
        site_id=admission.site_id,
        dataset_id=admission.dataset_id,
        grant_id=admission.grant_id,
        status="ok",
        model_sha256=model.sha256,
        cohort=cohort,
        unscored=unscored,
        metrics=metrics,
        statistics=stats,
        subgroups=subgroups,
    )
    return report, scored


def admit_and_validate(
    job: JobRequest, model_bytes: bytes | None, site: SiteBinding, checker: GrantChecker
) -> tuple[SiteReport, ScoredCohort | None, Admission | None]:
    """The site's report, its scored cohort (kept at the site for the Newton rounds) and its admission."""
    outcome = SiteGuard(site, checker).run(
        job_claim(job), job.disclosure, lambda admission: _validate(job, model_bytes, admission)
    )
    if outcome.result is not None:
        report, scored = outcome.result
        return report, scored, outcome.admission
    failed = SiteReport(
        site_id=site.site_id,
        dataset_id=outcome.dataset_id,
        status=outcome.status,
        reason=outcome.reason,
        grant_id=outcome.grant_id,
    )
    return failed, None, None


def run_site_job(
    job: JobRequest, model_bytes: bytes | None, site: SiteBinding, checker: GrantChecker
) -> tuple[SiteReport, ScoredCohort | None]:
    """The site's report (and its scored cohort, which stays at the site for the Newton rounds)."""
    report, scored, _ = admit_and_validate(job, model_bytes, site, checker)
    return report, scored
