"""Site side of a validation job, without Flower: grant check, model check, scoring, protected aggregates.

`run_site_job` is the one order every site follows: the grant first (no data is opened before a yes), then the
model's hash, then features from the site's own CDM, ONNX scoring, the statistics of `dari.validation`, and
disclosure control on everything that leaves. It never raises: a refusal or a failure is a report with a reason.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dari.cdm.store import open_store
from dari.disclosure import DisclosureRefusedError, DisclosureRules, site_rules
from dari.errors import DariError, InputError
from dari.federation.flower.grants import ANALYSIS_TYPE, GrantChecker
from dari.federation.flower.jobs import JobRequest, SiteReport
from dari.federation.ledger import open_site_ledger
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
    """Extract the spec's cohort from the site's CDM and score every scorable member."""
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


def run_site_job(
    job: JobRequest,
    model_bytes: bytes | None,
    site_id: str,
    folder: Path,
    checker: GrantChecker,
    *,
    floor: DisclosureRules | None = None,
) -> tuple[SiteReport, ScoredCohort | None]:
    """The site's report (and its scored cohort, which stays at the site for the Newton rounds)."""
    dataset = job.datasets.get(site_id)
    base = {"site_id": site_id, "dataset_id": dataset}
    if dataset is None:
        return SiteReport(**base, status="refused", reason=f"{site_id} is not part of job {job.job_id}"), None
    try:
        decision = checker.check(job.requester, dataset, ANALYSIS_TYPE)
    except Exception as exc:  # a broken checker must read as 'no', never as 'yes'
        return SiteReport(**base, status="refused", reason=f"grant check failed: {type(exc).__name__}"), None
    if not decision.allowed:
        return SiteReport(**base, status="refused", reason=f"no grant: {decision.reason}"), None
    expected = job.expected_grants.get(dataset)
    if expected is not None and decision.grant_id != expected:
        why = f"grant {expected} named by the job does not cover it (hub: {decision.grant_id})"
        return SiteReport(**base, status="refused", reason=why), None
    granted = {**base, "grant_id": decision.grant_id}
    rules, spec = site_rules(job.disclosure, floor), job.validation
    try:
        model = load_job_model(job, model_bytes)
        scored = score_site(folder, model, job.spec())
        ledger = open_site_ledger(folder, grant_id=decision.grant_id, requester=job.requester, rules=rules)
    except DariError as exc:
        return SiteReport(**granted, status="failed", reason=str(exc)), None
    except Exception as exc:  # a broken site folder is reported, not fatal to the job
        return SiteReport(**granted, status="failed", reason=f"{type(exc).__name__}: {exc}"), None
    ids = scored.person_id
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
    except DisclosureRefusedError as exc:
        return SiteReport(**granted, status="refused", reason=f"disclosure control: {exc}"), None
    finally:
        ledger.close()
    report = SiteReport(
        **granted,
        status="ok",
        model_sha256=model.sha256,
        cohort=cohort,
        unscored=unscored,
        metrics=metrics,
        statistics=stats,
        subgroups=subgroups,
    )
    return report, scored
