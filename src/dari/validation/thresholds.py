"""Accuracy at a declared threshold: the 2×2 table and sensitivity, specificity, PPV, NPV with Wilson CIs.

A case is test-positive when its score is at or above the threshold (score ≥ t). Each proportion k/n gets the
Wilson (1927) score interval, as `statsmodels.stats.proportion.proportion_confint(k, n, method="wilson")`:

    centre = (p̂ + z²/2n) / (1 + z²/n),   half-width = z·√(p̂(1 − p̂)/n + z²/4n²) / (1 + z²/n).

A proportion with an empty denominator (no positives, no test-positives…) is NaN with a warning.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field

from dari.validation._common import NAN, Result, check_labels_scores, undefined, z_quantile


class ConfusionCounts(Result):
    """The 2×2 table at one threshold (counts of rows; score ≥ threshold is test-positive)."""

    threshold: float = Field(ge=0, le=1)
    tp: int = Field(ge=0, strict=True)
    fp: int = Field(ge=0, strict=True)
    fn: int = Field(ge=0, strict=True)
    tn: int = Field(ge=0, strict=True)

    @property
    def n(self) -> int:
        """All rows."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def cells(self) -> tuple[int, int, int, int]:
        """TP, FP, FN, TN."""
        return self.tp, self.fp, self.fn, self.tn


class Proportion(Result):
    """k/n with its Wilson CI."""

    estimate: float
    ci_low: float
    ci_high: float
    numerator: int
    denominator: int


class ThresholdMetrics(Result):
    """Sensitivity, specificity, PPV and NPV at the threshold, with the 2×2 table they come from."""

    counts: ConfusionCounts
    sensitivity: Proportion
    specificity: Proportion
    ppv: Proportion
    npv: Proportion


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (NaN, NaN when n = 0)."""
    if n == 0:
        return NAN, NAN
    z = z_quantile(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(k: int, n: int, what: str, confidence: float = 0.95) -> Proportion:
    """k/n with its Wilson CI; NaN with a warning when n = 0."""
    estimate = k / n if n else undefined(what)
    low, high = wilson_interval(k, n, confidence)
    return Proportion(estimate=estimate, ci_low=low, ci_high=high, numerator=k, denominator=n)


def confusion_counts(y_true: Any, y_score: Any, threshold: float) -> ConfusionCounts:
    """The 2×2 table at `threshold` from the rows."""
    labels, scores = check_labels_scores(y_true, y_score)
    positive = scores >= threshold
    tp = int(np.count_nonzero(positive & labels))
    fp = int(np.count_nonzero(positive & ~labels))
    return counts_from_totals(threshold, tp, fp, int(labels.sum()), labels.size)


def counts_from_totals(threshold: float, tp: int, fp: int, events: int, n: int) -> ConfusionCounts:
    """The 2×2 table from the test-positives of each class and the class totals."""
    return ConfusionCounts(threshold=threshold, tp=tp, fp=fp, fn=events - tp, tn=n - events - fp)


def threshold_metrics(counts: ConfusionCounts, *, confidence: float = 0.95) -> ThresholdMetrics:
    """Sensitivity TP/(TP+FN), specificity TN/(TN+FP), PPV TP/(TP+FP), NPV TN/(TN+FN), each with a Wilson CI."""
    c = counts
    return ThresholdMetrics(
        counts=c,
        sensitivity=proportion(c.tp, c.tp + c.fn, "sensitivity (no positives)", confidence),
        specificity=proportion(c.tn, c.tn + c.fp, "specificity (no negatives)", confidence),
        ppv=proportion(c.tp, c.tp + c.fp, "PPV (no test-positives)", confidence),
        npv=proportion(c.tn, c.tn + c.fn, "NPV (no test-negatives)", confidence),
    )
