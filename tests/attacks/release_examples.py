"""One correctly protected example of every record type in the register of outbound records.

Each is built the way a site builds it (the same protect functions on synthetic rows), so the hub's re-check must
accept it as it is; the attacks then change one count and expect the re-check to refuse it.
"""

from __future__ import annotations

import datetime as dt
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from dari.catalog.characterise import AgeSexCount, Characterisation, ConceptCount
from dari.cohort import load_definition, load_table_one_request
from dari.cohort.feasibility import RawFeasibility, protect_feasibility
from dari.cohort.summary import RawNumeric
from dari.cohort.table_one import RawTableOne, protect_table_one
from dari.disclosure import DisclosureRules, protect_count
from dari.federation.flower.jobs import CalibrationReply, SiteReport
from dari.federation.flower.query_jobs import QuerySiteReport
from dari.hub.seed import sample_record
from dari.monitoring.drift import DriftResult
from dari.monitoring.publication import (
    InferenceEntry,
    LivePerformance,
    MonitoringPolicy,
    MonitoringPublication,
    MonitoringWindow,
    ServiceActivity,
)
from dari.validation import (
    LogisticParams,
    UndefinedMetricWarning,
    ValidationSpec,
    evaluate,
    evaluate_subgroups,
    protect_metrics,
    site_logistic_step,
    site_sufficient_statistics,
)

RULES = DisclosureRules()
EXAMPLES = Path(str(resources.files("dari.cohort") / "examples"))
DEFINITION = load_definition(EXAMPLES / "ckd_g3.json")
TABLE_ONE_REQUEST = load_table_one_request(EXAMPLES / "table_one_cardiometabolic.json")
MODEL_SHA = "ab" * 32
SPEC = ValidationSpec(histogram_bins=100)


def rows(n: int = 600, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic outcomes, scores that carry signal, and a sex label per row."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    p = np.clip(0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.15, n), 0.01, 0.99)
    return y, p, np.where(rng.random(n) < 0.5, "F", "M")


def site_report(site_id: str = "site-1") -> SiteReport:
    """An ok validation report, built as site_work builds it."""
    y, p, sex = rows()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return SiteReport(
            site_id=site_id,
            dataset_id=f"{site_id}-cdm",
            status="ok",
            grant_id="grant-1",
            model_sha256=MODEL_SHA,
            cohort=protect_count(y.size + 3, RULES),
            unscored=protect_count(3, RULES),
            metrics=protect_metrics(evaluate(y, p, SPEC), RULES),
            statistics=site_sufficient_statistics(y, p, SPEC, RULES),
            subgroups=evaluate_subgroups(y, p, {"sex": sex}, SPEC, RULES),
        )


def calibration_reply(site_id: str = "site-1") -> CalibrationReply:
    """An ok answer to one Newton round."""
    y, p, _ = rows()
    step = site_logistic_step(y, p, LogisticParams(intercept=0.0, slope=1.0), "slope", RULES)
    return CalibrationReply(site_id=site_id, status="ok", steps=(step,))


def feasibility_report(site_id: str = "site-1") -> QuerySiteReport:
    """An ok feasibility report with a suppressed stratum."""
    raw = RawFeasibility(
        steps=("index", "age ≥ 18", "eGFR 30-59"),
        index_steps=1,
        remaining=(812, 640, 233),
        by_sex={"F": 121, "M": 112},
        by_age_band={"40-49": 4, "50-59": 88, "60-69": 141},
    )
    result = protect_feasibility(raw, DEFINITION, site=site_id, rules=RULES, age_band_years=10)
    return QuerySiteReport(site_id=site_id, dataset_id=f"{site_id}-cdm", status="ok", grant_id="g", feasibility=result)


def _numeric(n: int, mean: float, width: float) -> RawNumeric:
    k0 = int(mean // width) - 3
    bins = {k0 + i: c for i, c in enumerate((n // 10, n // 5, n // 4, n // 5, n // 10))}
    bins[k0 + 5] = n - sum(bins.values())
    return RawNumeric(
        n=n, mean=mean, sd=width, q1=mean - width, median=mean, q3=mean + width, bin_width=width, bins=bins
    )


def table_one_report(site_id: str = "site-1") -> QuerySiteReport:
    """An ok Table 1 report, every count protected."""
    raw = RawTableOne(
        n=233,
        age=_numeric(233, 64.0, 5.0),
        sex={"F": 121, "M": 112},
        comorbidities={
            "diabetes": 97,
            "hypertension": 150,
            "heart failure": 6,
            "chronic kidney disease": 233,
            "atrial fibrillation": 21,
        },
        labs={lab.name: _numeric(200, 45.0, lab.bin_width or 1.0) for lab in TABLE_ONE_REQUEST.labs},
    )
    t1 = protect_table_one(raw, DEFINITION, TABLE_ONE_REQUEST, site=site_id, rules=RULES)
    return QuerySiteReport(site_id=site_id, dataset_id=f"{site_id}-cdm", status="ok", grant_id="g", table_one=t1)


def characterisation() -> Characterisation:
    """A catalog characterisation with a suppressed cell."""
    return Characterisation(
        rules=RULES,
        persons=protect_count(2694, RULES),
        age_sex=[
            AgeSexCount(age_band="60-69", sex="F", persons=protect_count(412, RULES)),
            AgeSexCount(age_band="90-99", sex="M", persons=protect_count(2, RULES)),
        ],
        top={"condition": [ConceptCount(concept_id=201826, name="Type 2 diabetes", persons=protect_count(318, RULES))]},
    )


def monitoring_publication(site_id: str = "site-1") -> MonitoringPublication:
    """One week of a deployed model's use, live performance rounded."""
    start = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)
    window = MonitoringWindow(
        start=start,
        end=start + dt.timedelta(weeks=1),
        activity=ServiceActivity(calls=300, scored=280, refused_by_status={"412": 20}, cards_by_indicator={"info": 3}),
        drift=[
            DriftResult(
                name="score",
                n_reference=5000,
                n_current=280,
                psi=0.02,
                ks_d=0.03,
                ks_p=0.4,
                drifted=False,
                verdict="stable",
            )
        ],
        performance=LivePerformance(n=protect_count(243).value, events=protect_count(31).value, auroc=0.79),
    )
    entry = InferenceEntry(
        at=start,
        service_id="svc",
        hook_instance="h-1",
        model_sha256=MODEL_SHA,
        model_version="1",
        status=200,
        reason="scored",
        probability=0.2,
        indicator="info",
        card_uuid=None,
        latency_ms=4.0,
    )
    return MonitoringPublication(
        site_id=site_id,
        model_sha256=MODEL_SHA,
        model_name="CKD",
        model_version="1",
        report_id=None,
        generated_at=start + dt.timedelta(weeks=1),
        policy=MonitoringPolicy(),
        windows=[window],
        inferences=[entry],
    )


def every_example() -> dict[str, BaseModel]:
    """One protected example of each registered record type (two for the query report: feasibility, Table 1)."""
    return {
        "SiteReport": site_report(),
        "CalibrationReply": calibration_reply(),
        "QuerySiteReport/feasibility": feasibility_report(),
        "QuerySiteReport/table_one": table_one_report(),
        "Characterisation": characterisation(),
        "DatasetRecord": sample_record("site-1", "t", "t", "d", "d"),
        "MonitoringPublication": monitoring_publication(),
    }
