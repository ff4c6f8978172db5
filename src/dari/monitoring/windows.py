"""The inference log cut into monitoring windows, and what each window shows.

Windows are `policy.window_days` long, aligned on Mondays 00:00 UTC counted from 1970-01-05, so the same window has
the same bounds however often a site re-runs monitoring (the hub keeps the latest version of each window); every
window from the first call's to the last call's is reported, empty ones too (a silent service is news). Or a fixed
number of calls per window, in call order (for replays, where all calls happen within minutes).

Per window: service activity (operational counts), drift of each model input and the score against the reference
(`dari.monitoring.drift`, scored calls only), live performance on scored calls whose outcome is known, and the
alerts (`dari.monitoring.alerts`). Live performance: AUROC with DeLong CI, CITL, slope and Brier through
`dari.validation.evaluate` (the statistics of the validation report), observed rate, mean predicted probability
and their ratio O/E. Its counts pass the site's disclosure control: fewer than `min_cell` events or non-events
suppress the whole block, other counts are rounded (`protect_count`); no verdict on fewer than
`policy.min_outcomes` outcomes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from dari.disclosure import DisclosureRules, protect_count
from dari.models import FeatureSpec
from dari.monitoring.alerts import drift_alerts, performance_alerts
from dari.monitoring.calls import LoggedCall
from dari.monitoring.drift import drift
from dari.monitoring.publication import LivePerformance, MonitoringPolicy, MonitoringWindow, ServiceActivity
from dari.monitoring.reference import SCORE, MonitoringReference, seen_values
from dari.validation import UndefinedMetricWarning, evaluate

EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday


def time_windows(calls: Sequence[LoggedCall], days: int) -> list[tuple[datetime, datetime, list[LoggedCall]]]:
    """Consecutive windows of `days` days (aligned on EPOCH) from the first call's to the last call's."""
    if not calls:
        return []
    span = timedelta(days=days)
    first = min(c.at for c in calls)
    last = max(c.at for c in calls)
    start = EPOCH + span * ((first - EPOCH) // span)
    windows: list[tuple[datetime, datetime, list[LoggedCall]]] = []
    while start <= last:
        windows.append((start, start + span, []))
        start += span
    for c in calls:
        windows[(c.at - windows[0][0]) // span][2].append(c)
    return windows


def count_windows(calls: Sequence[LoggedCall], size: int) -> list[tuple[datetime, datetime, list[LoggedCall]]]:
    """Windows of `size` consecutive calls (the last may be shorter), from the first call's time to just after the
    last's (windows end after they start, even a window of one call)."""
    if size < 1:
        raise ValueError(f"calls per window must be at least 1, got {size}")
    ordered = sorted(calls, key=lambda c: c.id)
    chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    return [(chunk[0].at, chunk[-1].at + timedelta(microseconds=1), chunk) for chunk in chunks]


def activity(calls: Sequence[LoggedCall]) -> ServiceActivity:
    """What the service did: calls, scored, refusals by HTTP status, cards by indicator, feedback, latency."""
    refused: dict[str, int] = {}
    cards: dict[str, int] = {}
    for c in calls:
        if c.status != 200:
            refused[str(c.status)] = refused.get(str(c.status), 0) + 1
        if c.indicator is not None:
            cards[c.indicator] = cards.get(c.indicator, 0) + 1
    latency = np.array([c.latency_ms for c in calls], dtype=np.float64)
    return ServiceActivity(
        calls=len(calls),
        scored=sum(c.scored for c in calls),
        refused_by_status=dict(sorted(refused.items())),
        cards_by_indicator=dict(sorted(cards.items())),
        feedback_accepted=sum(c.feedback == "accepted" for c in calls),
        feedback_overridden=sum(c.feedback == "overridden" for c in calls),
        latency_p50_ms=float(np.percentile(latency, 50)) if latency.size else None,
        latency_p95_ms=float(np.percentile(latency, 95)) if latency.size else None,
    )


def current_values(spec: FeatureSpec, calls: Sequence[LoggedCall]) -> dict[str, np.ndarray]:
    """Each input as the model saw it in the scored calls that kept their inputs, and the score."""
    kept = [c for c in calls if c.scored and c.inputs is not None]
    raw = {
        f.name: np.array(
            [v if (v := (c.inputs or {}).get(f.name)) is not None else math.nan for c in kept], dtype=np.float64
        )
        for f in spec.features
    }
    values = seen_values(spec, raw)
    values[SCORE] = np.array([c.probability for c in calls if c.probability is not None], dtype=np.float64)
    return values


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def live_performance(
    y: np.ndarray, p: np.ndarray, validated_auroc: float | None, policy: MonitoringPolicy, rules: DisclosureRules
) -> LivePerformance | None:
    """Discrimination and calibration of the window's outcomes, through disclosure control; None without any."""
    n, events = int(y.size), int(np.sum(y))
    if n == 0:
        return None
    if min(events, n - events) < rules.min_cell:
        return LivePerformance(n=None, events=None, suppressed=True, validated_auroc=validated_auroc)
    shown_n, shown_events = protect_count(n, rules).value, protect_count(events, rules).value
    if n < policy.min_outcomes:
        return LivePerformance(n=shown_n, events=shown_events, validated_auroc=validated_auroc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # NaN where undefined, published as None
        m = evaluate(y.astype(bool), p)
    observed, expected = events / n, float(np.mean(p))
    low, high = _finite(m.auroc.ci_low), _finite(m.auroc.ci_high)
    return LivePerformance(
        n=shown_n,
        events=shown_events,
        auroc=_finite(m.auroc.estimate),
        auroc_ci=(low, high) if low is not None and high is not None else None,
        validated_auroc=validated_auroc,
        observed_rate=observed,
        expected_rate=expected,
        oe_ratio=observed / expected if expected > 0 else None,
        calibration_intercept=_finite(m.calibration.citl.estimate),
        calibration_slope=_finite(m.calibration.slope.estimate),
        brier=_finite(m.calibration.brier.brier),
    )


def monitoring_window(
    start: datetime,
    end: datetime,
    calls: Sequence[LoggedCall],
    *,
    spec: FeatureSpec,
    reference: MonitoringReference,
    policy: MonitoringPolicy,
    outcomes: Mapping[int, bool],
    rules: DisclosureRules,
) -> MonitoringWindow:
    """Activity, drift, live performance and alerts of one window."""
    values = current_values(spec, calls)
    references = {**reference.inputs, SCORE: reference.score}
    drifts = [drift(ref, values.get(name, np.zeros(0)), policy.drift) for name, ref in references.items()]
    known = [c for c in calls if c.probability is not None and c.id in outcomes]
    y = np.array([outcomes[c.id] for c in known], dtype=bool)
    p = np.array([c.probability for c in known], dtype=np.float64)
    perf = live_performance(y, p, reference.performance.auroc, policy, rules)
    labels = {f.name: (f.label_en, f.label_ko) for f in spec.features}
    alerts = drift_alerts(drifts, policy, labels)
    alerts += performance_alerts(perf if perf is not None and not perf.suppressed else None, policy, int(y.sum()))
    return MonitoringWindow(
        start=start, end=end, activity=activity(calls), drift=drifts, performance=perf, alerts=alerts
    )


def monitor(
    calls: Sequence[LoggedCall],
    *,
    spec: FeatureSpec,
    reference: MonitoringReference,
    policy: MonitoringPolicy,
    outcomes: Mapping[int, bool] | None = None,
    calls_per_window: int | None = None,
    rules: DisclosureRules | None = None,
) -> list[MonitoringWindow]:
    """Every window of the calls: by `policy.window_days`, or by `calls_per_window` calls when given."""
    cut = count_windows(calls, calls_per_window) if calls_per_window else time_windows(calls, policy.window_days)
    return [
        monitoring_window(
            start,
            end,
            chunk,
            spec=spec,
            reference=reference,
            policy=policy,
            outcomes=outcomes or {},
            rules=rules or DisclosureRules(),
        )
        for start, end, chunk in cut
    ]
