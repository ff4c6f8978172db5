"""Windows, activity, live performance (against dari.validation), disclosure control and alerts, on synthetic calls."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from dari.disclosure import DisclosureRules
from dari.monitoring.alerts import drift_alerts, oe_interval, performance_alerts
from dari.monitoring.calls import LoggedCall
from dari.monitoring.drift import DriftResult
from dari.monitoring.publication import LivePerformance, MonitoringPolicy
from dari.monitoring.reference import REFERENCE_FILE, load_deployment, load_reference
from dari.monitoring.windows import EPOCH, activity, count_windows, live_performance, monitor, time_windows
from dari.validation import evaluate

T0 = datetime(2025, 3, 5, 9, 30, tzinfo=UTC)  # a Wednesday


def _call(i: int, at: datetime, *, p: float | None = 0.2, status: int = 200, **extra: object) -> LoggedCall:
    fields: dict[str, object] = {
        "id": i,
        "at": at,
        "service_id": "svc",
        "hook_instance": f"hook-{i}",
        "model_sha256": "a" * 64,
        "status": status,
        "reason": "card" if status == 200 else "refused",
        "probability": p,
        "indicator": "info" if p is not None else None,
        "card_uuid": f"card-{i}" if p is not None else None,
        "latency_ms": float(i % 10 + 1),
        "feedback": None,
        "patient_hmac": None,
        "evaluation_date": None,
        "inputs": None,
    }
    return LoggedCall(**(fields | extra))  # type: ignore[arg-type]


def test_monitoring_time_windows_aligned_on_mondays_with_empty_ones() -> None:
    # Prepare: calls on a Wednesday and 15 days later
    calls = [_call(1, T0), _call(2, T0 + timedelta(days=15))]
    # Execute
    windows = time_windows(calls, 7)
    # Assert
    assert [w[0] for w in windows] == [datetime(2025, 3, 3, tzinfo=UTC) + timedelta(days=7 * k) for k in range(3)]
    assert [len(w[2]) for w in windows] == [1, 0, 1]
    assert all(w[0].weekday() == 0 for w in windows) and EPOCH.weekday() == 0
    assert [len(c) for _s, _e, c in count_windows([_call(i, T0) for i in range(5)], 2)] == [2, 2, 1]


def test_monitoring_activity_counts_calls_refusals_cards_feedback_and_latency() -> None:
    # Prepare
    calls = [
        _call(1, T0, feedback="accepted"),
        _call(2, T0, feedback="overridden", indicator="critical"),
        _call(3, T0, p=None, status=412),
        _call(4, T0, p=None, status=412),
        _call(5, T0, p=None, status=422),
    ]
    # Execute
    a = activity(calls)
    # Assert
    assert (a.calls, a.scored) == (5, 2)
    assert a.refused_by_status == {"412": 2, "422": 1}
    assert a.cards_by_indicator == {"critical": 1, "info": 1}
    assert (a.feedback_accepted, a.feedback_overridden) == (1, 1)
    assert a.latency_p50_ms == 4.0 and a.latency_p95_ms == pytest.approx(5.8)  # of 2, 3, 4, 5, 6 ms


def test_monitoring_live_performance_equals_dari_validation() -> None:
    # Prepare: 400 outcomes from a model that discriminates
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.25
    p = np.clip(0.25 + 0.2 * (y - 0.25) + rng.normal(0, 0.12, 400), 0.01, 0.99)
    # Execute
    perf = live_performance(y, p, 0.8, MonitoringPolicy(), DisclosureRules())
    ref = evaluate(y, p)
    # Assert
    assert perf is not None and not perf.suppressed
    assert perf.auroc == pytest.approx(ref.auroc.estimate, abs=1e-12)
    assert perf.auroc_ci == pytest.approx((ref.auroc.ci_low, ref.auroc.ci_high), abs=1e-12)
    assert perf.calibration_intercept == pytest.approx(ref.calibration.citl.estimate, abs=1e-12)
    assert perf.calibration_slope == pytest.approx(ref.calibration.slope.estimate, abs=1e-12)
    assert perf.brier == pytest.approx(ref.calibration.brier.brier, abs=1e-12)
    assert perf.oe_ratio == pytest.approx(y.mean() / p.mean())
    assert perf.n == 400 and perf.events == 5 * round(y.sum() / 5)  # rounded to the base of 5


@pytest.mark.parametrize(
    ("n", "events", "suppressed", "has_auroc"),
    [(40, 5, True, False), (40, 35, True, False), (60, 21, False, False), (123, 37, False, True)],
)
def test_monitoring_live_performance_applies_disclosure_control(
    n: int, events: int, suppressed: bool, has_auroc: bool
) -> None:
    # Prepare: few events (or few non-events) must not leave the site; below min_outcomes no verdict
    y = np.zeros(n, dtype=bool)
    y[:events] = True
    p = np.linspace(0.05, 0.6, n)[::-1]
    # Execute
    perf = live_performance(y, p, 0.8, MonitoringPolicy(min_outcomes=100), DisclosureRules())
    # Assert
    assert perf is not None and perf.suppressed is suppressed
    if suppressed:
        assert perf.n is None and perf.events is None and perf.auroc is None and perf.oe_ratio is None
    else:
        assert perf.n == 5 * round(n / 5) and perf.events == 5 * round(events / 5 + 1e-9)
        assert (perf.auroc is not None) is has_auroc
    assert live_performance(y[:0], p[:0], 0.8, MonitoringPolicy(), DisclosureRules()) is None


def test_monitoring_performance_alerts_fire_with_bilingual_messages() -> None:
    # Prepare: AUROC well below the validated one, and far fewer events than predicted
    perf = LivePerformance(n=300, events=40, auroc=0.62, auroc_ci=(0.55, 0.69), validated_auroc=0.80, oe_ratio=0.5)
    fine = LivePerformance(n=300, events=60, auroc=0.79, auroc_ci=(0.74, 0.84), validated_auroc=0.80, oe_ratio=1.05)
    # Execute
    alerts = performance_alerts(perf, MonitoringPolicy(), 40)
    # Assert
    by_kind = {a.kind: a for a in alerts}
    assert set(by_kind) == {"discrimination", "calibration"}
    assert by_kind["discrimination"].severity == "critical"  # the CI's upper bound 0.69 < 0.75 as well
    assert by_kind["discrimination"].threshold == pytest.approx(0.75)
    _low, high = oe_interval(0.5, 40)
    assert high < 0.8 and by_kind["calibration"].severity == "critical"
    assert "over-predicts" in by_kind["calibration"].message_en and "과대" in by_kind["calibration"].message_ko
    assert performance_alerts(fine, MonitoringPolicy(), 60) == []
    assert oe_interval(1.0, 100) == pytest.approx((math.exp(-0.196), math.exp(0.196)), rel=1e-5)


def test_monitoring_drift_alert_severity_and_labels() -> None:
    # Prepare: PSI only (warning), PSI and KS (critical), and a window too small for a verdict
    def result(name: str, psi: float | None, d: float | None, drifted: bool) -> DriftResult:
        return DriftResult(
            name=name, n_reference=500, n_current=300, psi=psi, ks_d=d, ks_p=0.01, drifted=drifted, verdict=""
        )

    results = [result("egfr", 0.3, 0.1, True), result("score", 0.4, 0.3, True), result("sbp", None, None, False)]
    # Execute
    alerts = drift_alerts(results, MonitoringPolicy(), {"egfr": ("Kidney function (eGFR)", "사구체여과율(eGFR)")})
    # Assert
    assert [(a.kind, a.subject, a.severity) for a in alerts] == [
        ("input_drift", "egfr", "warning"),
        ("score_drift", "score", "critical"),
    ]
    assert "Kidney function (eGFR)" in alerts[0].message_en and "사구체여과율(eGFR)" in alerts[0].message_ko
    assert alerts[0].value == 0.3 and alerts[0].threshold == 0.25


def test_monitoring_windows_link_outcomes_and_alert_on_calibration(deployment_dir: Path) -> None:
    # Prepare: 300 calls at a steady score of 0.6 whose outcomes happen at a rate of 0.2
    deployment = load_deployment(deployment_dir)
    reference = load_reference(deployment_dir / REFERENCE_FILE)
    rng = np.random.default_rng(5)
    calls = [_call(i, T0 + timedelta(minutes=i), p=float(rng.uniform(0.5, 0.7))) for i in range(300)]
    outcomes = {c.id: bool(rng.random() < 0.2) for c in calls}
    # Execute
    (window,) = monitor(calls, spec=deployment.spec, reference=reference, policy=MonitoringPolicy(), outcomes=outcomes)
    # Assert
    assert window.performance is not None and window.performance.validated_auroc == reference.performance.auroc
    assert window.performance.oe_ratio is not None and window.performance.oe_ratio < 0.5
    assert {"calibration", "score_drift"} <= {a.kind for a in window.alerts}
    assert all(d.verdict.startswith("too few") for d in window.drift if d.name != "score")  # no inputs kept
