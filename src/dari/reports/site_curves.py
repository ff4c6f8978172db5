"""Each site's ROC, calibration and decision curves, derived at the hub from the site's protected histogram.

A site releases no curve points (they would disclose small cells); it does release its disclosure-controlled
two-class score histogram (`dari.validation.histogram`). The same within-bin model the hub uses for the pooled
metrics gives, per site: TPR and FPR at every released bin edge (ROC), observed vs mean predicted risk on the
equal-width calibration bins the site kept as edges, and TP/FP at each decision threshold (net benefit).
Nothing here is finer than what the site released.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dari.validation import CalibrationCurve, DecisionCurve, SiteSufficientStatistics, ValidationSpec
from dari.validation.decision_curve import curve_from_counts
from dari.validation.histogram import ClassIntervals
from dari.validation.sufficient import pooled_calibration_curve, pooled_counts_at


@dataclass(frozen=True)
class RocPoints:
    """False- and true-positive rates at each released edge, from (1, 1) down to (0, 0)."""

    fpr: tuple[float, ...]
    tpr: tuple[float, ...]


def roc_points(stats: SiteSufficientStatistics) -> RocPoints:
    """ROC points of one site at every edge of its histogram (interpolated inside bins)."""
    h = stats.histogram
    edges = np.unique(np.concatenate([h.edges, h.positives.edges, h.negatives.edges]))
    grid = np.concatenate([[0.0], edges, [np.nextafter(1.0, 2.0)]])
    pos, neg = stats.events, stats.n - stats.events
    tp = ClassIntervals(h.positives).count_at_or_above(grid)
    fp = ClassIntervals(h.negatives).count_at_or_above(grid)
    return RocPoints(fpr=tuple((fp / max(neg, 1)).tolist()), tpr=tuple((tp / max(pos, 1)).tolist()))


def calibration_points(stats: SiteSufficientStatistics, n_bins: int = 10) -> CalibrationCurve:
    """Calibration curve of one site on the equal-width edges its histogram kept (bins merged elsewhere)."""
    return pooled_calibration_curve([stats], ValidationSpec(calibration_bins=n_bins))


def decision_points(stats: SiteSufficientStatistics, thresholds: Sequence[float]) -> DecisionCurve:
    """Net benefit of one site at each threshold (exact where the site kept the threshold as an edge)."""
    t = np.asarray(thresholds, dtype=np.float64)
    tp, fp, exact = pooled_counts_at([stats], t)
    return curve_from_counts(t, tp, fp, stats.n, stats.events, tuple(bool(x) for x in exact))
