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

from dari.validation import CalibrationCurve, DecisionCurve, SiteSufficientStatistics
from dari.validation.calibration import bin_index, curve_from_sums, uniform_edges
from dari.validation.decision_curve import curve_from_counts
from dari.validation.histogram import ClassIntervals, has_edge


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
    h = stats.histogram
    edges = uniform_edges(n_bins)
    keep = has_edge(h, edges)
    keep[[0, -1]] = True
    common = edges[keep]
    nb = common.size - 1
    n, events, sums = np.zeros(nb, np.int64), np.zeros(nb, np.int64), np.zeros(nb)
    for cls, positive in ((h.positives, True), (h.negatives, False)):
        e = np.asarray(cls.edges)
        idx = bin_index((e[:-1] + e[1:]) / 2, common)
        counts = np.bincount(idx, cls.counts, nb).astype(np.int64)
        n += counts
        if positive:
            events += counts
        sums += np.bincount(idx, cls.score_sums, nb)
    return curve_from_sums(common, n, events, sums)


def decision_points(stats: SiteSufficientStatistics, thresholds: Sequence[float]) -> DecisionCurve:
    """Net benefit of one site at each threshold (exact where the site kept the threshold as an edge)."""
    h = stats.histogram
    t = np.asarray(thresholds, dtype=np.float64)
    tp = np.rint(ClassIntervals(h.positives).count_at_or_above(t))
    fp = np.rint(ClassIntervals(h.negatives).count_at_or_above(t))
    exact = tuple(bool(x) for x in has_edge(h, t))
    return curve_from_counts(t, tp, fp, stats.n, stats.events, exact)
