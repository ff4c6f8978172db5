"""Sensitivity at a fixed rate of false positives per image, from rows (centralised) or released histograms.

For an image-level finding (at most one mark per image, as the reference model gives), the FROC operating point at
f false positives per image is the lowest threshold t with FP(t) / N ≤ f, N the number of images, FP(t) the
negatives scored ≥ t; its sensitivity is TP(t) / positives (Bandos et al. 2009, Chakraborty 2017 for the FROC
family). From sites' released histograms (`SiteSufficientStatistics`, bins of at least `min_cell` per class) the
counts are exact at a bin edge every site released and interpolated inside bins elsewhere (`pooled_counts_at`,
the same reading as the pooled 2×2 table of the tabular job); the candidates are the released edges first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dari.imaging.validation_job import SensitivityAtFp
from dari.validation import SiteSufficientStatistics
from dari.validation.sufficient import pooled_counts_at


def _pick(
    thresholds: np.ndarray[Any, Any],
    tp: np.ndarray[Any, Any],
    fp: np.ndarray[Any, Any],
    exact: np.ndarray[Any, Any],
    n: int,
    events: int,
    rates: Sequence[float],
) -> tuple[SensitivityAtFp, ...]:
    order = np.argsort(thresholds)
    thresholds, tp, fp, exact = thresholds[order], tp[order], fp[order], exact[order]
    points = []
    for rate in rates:
        ok = np.flatnonzero(fp <= rate * n + 1e-9)  # FP(t) falls as t rises: the first that fits is the lowest
        i = int(ok[0]) if ok.size else thresholds.size - 1
        sens = float(tp[i] / events) if events else float("nan")
        points.append(
            SensitivityAtFp(fp_per_image=rate, threshold=float(thresholds[i]), sensitivity=sens, exact=bool(exact[i]))
        )
    return tuple(points)


def sensitivity_at_fp_rows(y_true: Any, y_score: Any, rates: Sequence[float]) -> tuple[SensitivityAtFp, ...]:
    """The operating points from the rows (the centralised reference)."""
    labels = np.asarray(y_true, dtype=bool)
    scores = np.asarray(y_score, dtype=np.float64)
    thresholds = np.append(np.unique(scores), np.inf)
    order = np.argsort(scores)
    sorted_scores, sorted_labels = scores[order], labels[order]
    # counts of each class scored at or above each threshold
    at_or_above = scores.size - np.searchsorted(sorted_scores, thresholds, side="left")
    pos_below = np.concatenate([[0], np.cumsum(sorted_labels)])[scores.size - at_or_above]
    tp = labels.sum() - pos_below
    fp = at_or_above - tp
    exact = np.ones(thresholds.size, dtype=bool)
    return _pick(thresholds, tp.astype(float), fp.astype(float), exact, scores.size, int(labels.sum()), rates)


def sensitivity_at_fp_stats(
    stats: Sequence[SiteSufficientStatistics], rates: Sequence[float]
) -> tuple[SensitivityAtFp, ...]:
    """The operating points from sites' released statistics only (the hub's computation)."""
    if not stats:
        return ()
    edges = np.unique(np.concatenate([np.asarray(s.histogram.edges, dtype=np.float64) for s in stats]))
    grid = np.linspace(0.0, 1.0, 1001)
    thresholds = np.unique(np.concatenate([edges, grid]))
    tp, fp, exact = pooled_counts_at(stats, thresholds)
    n = sum(s.n for s in stats)
    events = sum(s.events for s in stats)
    return _pick(thresholds, tp, fp, exact, n, events, rates)
