"""Alerts of one monitoring window, by the model's `MonitoringPolicy`, with messages in Korean and English.

| kind | fires when | critical when |
| --- | --- | --- |
| input_drift, score_drift | PSI > policy.drift.psi or KS D > policy.drift.ks_d (with ≥ min_current values) | both |
| discrimination | live AUROC < validated AUROC − auroc_drop | the CI's upper bound is below it too |
| calibration | O/E < oe_low or O/E > oe_high | the O/E CI lies wholly beyond the bound |

The O/E interval treats the observed events O as Poisson: O/E · exp(±1.96/√O) (the usual interval of a
standardised ratio). Performance alerts need a performance verdict: at least `policy.min_outcomes` outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from dari.monitoring.drift import DriftResult
from dari.monitoring.publication import Alert, AlertSeverity, LivePerformance, MonitoringPolicy

Z95 = 1.959964
SCORE_NAME = "score"


def _drift_alert(result: DriftResult, policy: MonitoringPolicy, label_en: str, label_ko: str) -> Alert | None:
    t = policy.drift
    if not result.drifted or result.psi is None or result.ks_d is None:
        return None
    psi_over, ks_over = result.psi > t.psi, result.ks_d > t.ks_d
    value, threshold = (result.psi, t.psi) if psi_over else (result.ks_d, t.ks_d)
    severity: AlertSeverity = "critical" if psi_over and ks_over else "warning"
    figures = f"PSI {result.psi:.2f} ({t.psi:g}), KS D {result.ks_d:.2f} ({t.ks_d:g})"
    if result.name == SCORE_NAME:
        en = f"The model's score distribution has shifted from validation: {figures}, {result.n_current} calls."
        ko = f"모델 점수(위험도)의 분포가 검증 때와 달라졌습니다: {figures}, 호출 {result.n_current}건."
    else:
        en = f"Input '{label_en}' has shifted from its validation distribution: {figures}, {result.n_current} calls."
        ko = f"입력 '{label_ko}'의 분포가 검증 때와 달라졌습니다: {figures}, 호출 {result.n_current}건."
    return Alert(
        kind="score_drift" if result.name == SCORE_NAME else "input_drift",
        severity=severity,
        subject=result.name,
        value=value,
        threshold=threshold,
        message_en=en + " (thresholds in brackets)",
        message_ko=ko + " (괄호 안은 기준값)",
    )


def drift_alerts(
    results: list[DriftResult], policy: MonitoringPolicy, labels: Mapping[str, tuple[str, str]]
) -> list[Alert]:
    """One alert per drifted input or score; `labels` maps an input's name to its (English, Korean) label."""
    alerts = []
    for r in results:
        en, ko = labels.get(r.name, (r.name, r.name))
        alert = _drift_alert(r, policy, en, ko)
        if alert is not None:
            alerts.append(alert)
    return alerts


def _discrimination_alert(perf: LivePerformance, policy: MonitoringPolicy) -> Alert | None:
    if perf.auroc is None or perf.validated_auroc is None:
        return None
    floor = perf.validated_auroc - policy.auroc_drop
    if perf.auroc >= floor:
        return None
    ci = f" (95% CI {perf.auroc_ci[0]:.3f}–{perf.auroc_ci[1]:.3f})" if perf.auroc_ci else ""
    severity: AlertSeverity = "critical" if perf.auroc_ci is not None and perf.auroc_ci[1] < floor else "warning"
    return Alert(
        kind="discrimination",
        severity=severity,
        subject="auroc",
        value=perf.auroc,
        threshold=floor,
        message_en=(
            f"Live AUROC {perf.auroc:.3f}{ci} is more than {policy.auroc_drop:g} below the validated "
            f"{perf.validated_auroc:.3f}."
        ),
        message_ko=(
            f"실사용 AUROC {perf.auroc:.3f}{ci}가 검증값 {perf.validated_auroc:.3f}보다 {policy.auroc_drop:g} 넘게 "
            "낮습니다."
        ),
    )


def oe_interval(oe: float, events: int) -> tuple[float, float]:
    """95 % interval of an observed/expected ratio with O ~ Poisson: O/E · exp(±1.96/√O)."""
    if events <= 0:
        return 0.0, math.inf
    half = Z95 / math.sqrt(events)
    return oe * math.exp(-half), oe * math.exp(half)


def _calibration_alert(perf: LivePerformance, policy: MonitoringPolicy, events: int) -> Alert | None:
    oe = perf.oe_ratio
    if oe is None or policy.oe_low <= oe <= policy.oe_high:
        return None
    low, high = oe_interval(oe, events)
    under = oe < policy.oe_low
    bound = policy.oe_low if under else policy.oe_high
    severity: AlertSeverity = "critical" if (high < bound if under else low > bound) else "warning"
    what_en = "over-predicts" if under else "under-predicts"
    what_ko = "과대" if under else "과소"
    side_en, side_ko = ("lower", "하한") if under else ("upper", "상한")
    return Alert(
        kind="calibration",
        severity=severity,
        subject="oe_ratio",
        value=oe,
        threshold=bound,
        message_en=(
            f"Observed events are {oe:.2f} times the predicted (95% CI {low:.2f}–{high:.2f}; {side_en} bound "
            f"{bound:g}): the model {what_en} risk here."
        ),
        message_ko=(
            f"관찰된 사건 수가 예측의 {oe:.2f}배입니다(95% CI {low:.2f}–{high:.2f}, {side_ko} {bound:g}): "
            f"이곳에서 모델이 위험을 {what_ko} 예측하고 있습니다."
        ),
    )


def performance_alerts(perf: LivePerformance | None, policy: MonitoringPolicy, events: int | None) -> list[Alert]:
    """Discrimination and calibration alerts of a window's live performance (`events`: the exact event count)."""
    if perf is None:
        return []
    alerts = [_discrimination_alert(perf, policy)]
    if events is not None:
        alerts.append(_calibration_alert(perf, policy, events))
    return [a for a in alerts if a is not None]
