"""Synthetic monitoring publications for the hub's tests: weekly windows whose population shifts from a given week.

Nothing here comes from a patient: numbers are made up to look like a deployed model's week (a few hundred calls,
drift statistics, live AUROC and O/E ratio); from `shift_from` on, the score and one input drift and the model
loses discrimination and calibration, and each of those windows carries the four alerts.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from dari.hub.governance.deployment import approve_deployment, register_model, submit_report
from dari.hub.governance.users import get_user
from dari.monitoring.drift import DriftResult
from dari.monitoring.publication import (
    Alert,
    InferenceEntry,
    LivePerformance,
    MonitoringPolicy,
    MonitoringPublication,
    MonitoringWindow,
    ServiceActivity,
)

MODEL_SHA = "ab" * 32
OTHER_SHA = "cd" * 32
START = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)  # a Monday
INPUTS = ("age", "egfr", "hba1c")
SCORE_ALERT_KO = "점수 분포가 크게 변했습니다 (PSI {psi:.2f} > 0.25)"
SCORE_ALERT_EN = "The score's distribution shifted (PSI {psi:.2f} > 0.25)"


def register(factory: sessionmaker[Session], sha: str = MODEL_SHA, *, approve: bool = False) -> str:
    """Register a model (vendor), submit its report covering site-1 and site-2; approve it at site-1 if asked."""
    with factory() as s, s.begin():
        register_model(s, get_user(s, "vendor"), sha, {"name": "CKD progression", "version": "1.0"})
        results = {"sites_covered": ["site-1", "site-2"], "pooled": {"n": 900, "events": 120, "auroc": 0.80}}
        report = submit_report(s, get_user(s, "vendor"), sha, results).id
    if approve:
        with factory() as s, s.begin():
            approve_deployment(s, get_user(s, "approver1"), report)
    return report


def _drift(name: str, psi: float, n: int) -> DriftResult:
    drifted = psi > 0.25
    return DriftResult(
        name=name,
        n_reference=5000,
        n_current=n,
        psi=psi,
        ks_d=0.2 if drifted else 0.03,
        ks_p=1e-6 if drifted else 0.4,
        drifted=drifted,
        verdict="major shift" if drifted else "stable",
    )


def _alerts(score_psi: float) -> list[Alert]:
    return [
        Alert(
            kind="score_drift",
            severity="critical",
            subject="score",
            value=score_psi,
            threshold=0.25,
            message_en=SCORE_ALERT_EN.format(psi=score_psi),
            message_ko=SCORE_ALERT_KO.format(psi=score_psi),
        ),
        Alert(
            kind="input_drift",
            severity="warning",
            subject="egfr",
            value=0.31,
            threshold=0.25,
            message_en="Input egfr shifted (PSI 0.31 > 0.25)",
            message_ko="입력 egfr 분포가 변했습니다 (PSI 0.31 > 0.25)",
        ),
        Alert(
            kind="discrimination",
            severity="warning",
            subject="auroc",
            value=0.71,
            threshold=0.75,
            message_en="Live AUROC 0.71 is below the validated 0.80 − 0.05",
            message_ko="실사용 AUROC 0.71이 검증값 0.80 − 0.05보다 낮습니다",
        ),
        Alert(
            kind="calibration",
            severity="warning",
            subject="oe_ratio",
            value=1.4,
            threshold=1.25,
            message_en="Observed/expected events 1.40 above 1.25",
            message_ko="관찰/기대 사건 비 1.40이 1.25를 넘었습니다",
        ),
    ]


def window(week: int, *, shifted: bool, calls: int = 300) -> MonitoringWindow:
    """The week's window, shifted or not."""
    start = START + dt.timedelta(weeks=week)
    score_psi = 0.42 + 0.01 * week if shifted else 0.03 + 0.005 * week
    drift = [_drift("score", score_psi, calls)]
    drift += [_drift(name, 0.31 if shifted and name == "egfr" else 0.02, calls) for name in INPUTS]
    auroc = 0.71 if shifted else 0.79
    return MonitoringWindow(
        start=start,
        end=start + dt.timedelta(weeks=1),
        activity=ServiceActivity(
            calls=calls,
            scored=calls - 20,
            refused_by_status={"412": 15, "422": 5},
            cards_by_indicator={"info": calls - 80, "warning": 50, "critical": 10},
            feedback_accepted=40,
            feedback_overridden=6,
            latency_p50_ms=4.0,
            latency_p95_ms=9.5 + week,
        ),
        drift=drift,
        performance=LivePerformance(
            n=240,
            events=30,
            auroc=auroc,
            auroc_ci=(auroc - 0.05, auroc + 0.05),
            validated_auroc=0.80,
            observed_rate=0.125,
            expected_rate=0.125 / (1.4 if shifted else 1.02),
            oe_ratio=1.4 if shifted else 1.02,
            calibration_intercept=0.1,
            calibration_slope=0.95,
            brier=0.09,
        ),
        alerts=_alerts(score_psi) if shifted else [],
    )


def inference(week: int, i: int, *, status: int = 200, feedback: str | None = None) -> InferenceEntry:
    """One call of the week (every tenth refused with 412 when `status` is left at 200)."""
    refused = status != 200 or i % 10 == 9
    return InferenceEntry(
        at=START + dt.timedelta(weeks=week, hours=i),
        service_id="dari-ckd-progression",
        hook_instance=f"00000000-0000-4000-8000-{week:04d}{i:08d}",
        model_sha256=MODEL_SHA,
        model_version="1.0",
        status=412 if refused and status == 200 else status,
        reason="missing: egfr" if refused else "scored",
        probability=None if refused else 0.05 + (i % 20) / 40,
        indicator=None if refused else ("warning" if i % 4 == 0 else "info"),
        card_uuid=None if refused else f"card-{week}-{i}",
        latency_ms=3.5 + (i % 7),
        feedback=feedback,  # type: ignore[arg-type]
    )


def publication(
    *,
    site_id: str = "site-1",
    sha: str = MODEL_SHA,
    weeks: int = 6,
    shift_from: int = 4,
    first_week: int = 0,
    per_week: int = 12,
    report_id: str | None = None,
) -> MonitoringPublication:
    """A publication of `weeks` weekly windows (shifted from week `shift_from`) and `per_week` calls per week."""
    weeks_range = range(first_week, first_week + weeks)
    entries = [inference(w, i).model_copy(update={"model_sha256": sha}) for w in weeks_range for i in range(per_week)]
    return MonitoringPublication(
        site_id=site_id,
        model_sha256=sha,
        model_name="CKD progression",
        model_version="1.0",
        report_id=report_id,
        generated_at=START + dt.timedelta(weeks=first_week + weeks, hours=1),
        policy=MonitoringPolicy(),
        windows=[window(w, shifted=w >= shift_from) for w in weeks_range],
        inferences=entries,
    )
