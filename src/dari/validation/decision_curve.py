"""Decision curve analysis: net benefit across threshold probabilities (Vickers & Elkin 2006, Med Decis Making 26:565).

At threshold probability t (treat when score ≥ t), with n rows:

    NB_model(t)     = TP(t)/n − FP(t)/n · t/(1 − t)
    NB_treat_all(t) = π − (1 − π) · t/(1 − t),   π = events/n
    NB_treat_none   = 0

t/(1 − t) is the exchange rate: the harm of a false positive in units of the benefit of a true positive.
Thresholds must lie strictly inside (0, 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dari.validation._common import FloatArray, Result, check_labels_scores, undefined
from dari.validation.discrimination import RankedScores

#: 0.01, 0.02, …, 0.99
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.01 * i, 2) for i in range(1, 100))


class DecisionCurve(Result):
    """Net benefit of the model, treat-all and treat-none at each threshold; `exact` False where a pooled
    curve had to interpolate inside a site's histogram bin (None for curves computed from rows)."""

    thresholds: tuple[float, ...]
    net_benefit: tuple[float, ...]
    treat_all: tuple[float, ...]
    treat_none: tuple[float, ...]
    exact: tuple[bool, ...] | None = None


def check_thresholds(thresholds: Any) -> FloatArray:
    """Thresholds as an array strictly inside (0, 1)."""
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all((t > 0) & (t < 1)):
        raise ValueError("decision-curve thresholds must be a non-empty 1-D sequence strictly inside (0, 1)")
    return t


def curve_from_counts(
    thresholds: FloatArray, tp: FloatArray, fp: FloatArray, n: int, events: int, exact: tuple[bool, ...] | None = None
) -> DecisionCurve:
    """Net benefit from TP and FP at each threshold (what sites add up)."""
    if n == 0:
        nan = undefined("net benefit (no rows)")
        nans = tuple(nan for _ in thresholds)
        return DecisionCurve(
            thresholds=tuple(thresholds.tolist()), net_benefit=nans, treat_all=nans, treat_none=nans, exact=exact
        )
    odds = thresholds / (1.0 - thresholds)
    prevalence = events / n
    return DecisionCurve(
        thresholds=tuple(thresholds.tolist()),
        net_benefit=tuple(((tp - fp * odds) / n).tolist()),
        treat_all=tuple((prevalence - (1.0 - prevalence) * odds).tolist()),
        treat_none=tuple(0.0 for _ in thresholds),
        exact=exact,
    )


def decision_curve(y_true: Any, y_score: Any, thresholds: Any = DEFAULT_THRESHOLDS) -> DecisionCurve:
    """Net benefit of the rows at each threshold (vectorised: one sort, one search)."""
    return decision_curve_ranked(RankedScores(*check_labels_scores(y_true, y_score)), thresholds)


def decision_curve_ranked(r: RankedScores, thresholds: Any = DEFAULT_THRESHOLDS) -> DecisionCurve:
    """`decision_curve` from scores already ranked."""
    t = check_thresholds(thresholds)
    tp, fp = r.counts_at_or_above(t)
    return curve_from_counts(t, tp, fp, r.m + r.n, r.m)
