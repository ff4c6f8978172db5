"""Discrimination: AUROC with the DeLong confidence interval (fast algorithm), and average precision (AUPRC).

AUROC is the Mann–Whitney probability A = P(S⁺ > S⁻) + ½·P(S⁺ = S⁻) over all (positive, negative) pairs.
DeLong, DeLong & Clarke-Pearson (1988) estimate its variance from the structural components (placement values)

    V₁₀(xᵢ) = (1/n) Σⱼ ψ(xᵢ, yⱼ),   V₀₁(yⱼ) = (1/m) Σᵢ ψ(xᵢ, yⱼ),   ψ(x, y) = 1[x > y] + ½·1[x = y],
    Var(A) = S₁₀/m + S₀₁/n,   S₁₀ = sample variance of V₁₀ over the m positives, S₀₁ likewise over the n negatives.

Sun & Xu (2014, IEEE Signal Processing Letters 21:1389) compute the placements from midranks in O(N log N):
with T_z the midranks of all scores, T_x those of the positives among the positives and T_y those of the
negatives among the negatives, V₁₀ = (T_z(xᵢ) − T_x(xᵢ))/n and V₀₁ = 1 − (T_z(yⱼ) − T_y(yⱼ))/m. Here one
stable sort serves all three rankings (`RankedScores`): within a tie group the differences of midranks are the
counts of the other class below plus half of those tied.

The 95 % CI is computed on the logit scale, logit(A) ± z·SE/(A(1 − A)) (delta method), and transformed back, so
it always lies inside [0, 1] and is asymmetric near 1 (pROC's default is the plain scale, A ± z·SE, clipped).

>>> r = auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> round(r.estimate, 2)
0.75
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from dari.validation._common import (
    NAN,
    BoolArray,
    Estimate,
    FloatArray,
    check_labels_scores,
    dot,
    undefined,
    z_quantile,
)


class AurocResult(Estimate):
    """AUROC with its DeLong SE and CI; `ci_scale` says on which scale the CI was built."""

    n_positive: int
    n_negative: int
    ci_scale: Literal["logit"] = "logit"


class RankedScores:
    """One stable sort of the scores, grouped into distinct values with the positives and negatives at each.

    Everything rank-based reads from it: the midranks are T_z = (start + end + 1)/2 for a tie group occupying
    sorted positions start..end−1, so T_z − T_x = (negatives below) + ½(negatives tied), and DeLong's
    placements, U, average precision and the counts at any threshold follow per group, not per row.
    """

    def __init__(self, labels: BoolArray, scores: FloatArray) -> None:
        order = np.argsort(scores, kind="stable")
        sorted_scores = scores[order]
        first = np.flatnonzero(np.concatenate([[scores.size > 0], sorted_scores[1:] != sorted_scores[:-1]]))
        sizes = np.diff(np.append(first, scores.size))
        cum_pos = np.concatenate([[0], np.cumsum(labels[order], dtype=np.int64)])
        self.values: FloatArray = sorted_scores[first]
        self.pos = cum_pos[first + sizes] - cum_pos[first]
        self.neg = sizes - self.pos
        self.m, self.n = int(cum_pos[-1]), int(scores.size - cum_pos[-1])

    def placements(self) -> tuple[FloatArray, FloatArray]:
        """Per tie group: V₁₀ of its positives and V₀₁ of its negatives (Sun & Xu's midrank formulas)."""
        neg_below = np.cumsum(self.neg) - self.neg
        pos_above = self.m - np.cumsum(self.pos)
        return (neg_below + self.neg / 2.0) / max(self.n, 1), (pos_above + self.pos / 2.0) / max(self.m, 1)

    def concordant_pairs(self) -> float:
        """Mann–Whitney U: Σ over positives of (negatives below + ½ negatives tied)."""
        neg_below = np.cumsum(self.neg) - self.neg
        return dot(self.pos, neg_below + self.neg / 2.0)

    def counts_at_or_above(self, thresholds: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Positives and negatives with score ≥ each threshold."""
        k = np.searchsorted(self.values, thresholds, side="left")
        cum_pos = np.concatenate([[0], np.cumsum(self.pos)])
        cum_neg = np.concatenate([[0], np.cumsum(self.neg)])
        return self.m - cum_pos[k], self.n - cum_neg[k]


def mann_whitney_u(labels: BoolArray, scores: FloatArray) -> float:
    """Concordant (positive, negative) pairs, ties counted ½ (= AUROC × m × n)."""
    return RankedScores(labels, scores).concordant_pairs()


def auroc(y_true: Any, y_score: Any, *, confidence: float = 0.95) -> AurocResult:
    """AUROC with DeLong SE and a logit-scale CI; NaN (with a warning) when a class is missing."""
    return auroc_ranked(RankedScores(*check_labels_scores(y_true, y_score)), confidence)


def auroc_ranked(r: RankedScores, confidence: float = 0.95) -> AurocResult:
    """`auroc` from scores already ranked."""
    m, n = r.m, r.n
    if m == 0 or n == 0:
        value = undefined("AUROC (needs both positives and negatives)")
        return AurocResult(estimate=value, se=NAN, ci_low=NAN, ci_high=NAN, n_positive=m, n_negative=n)
    v10, v01 = r.placements()
    a = dot(r.pos, v10) / m
    if m < 2 or n < 2:
        se = undefined("the DeLong variance (needs two positives and two negatives)")
    else:
        s10 = dot(r.pos, (v10 - a) ** 2) / (m - 1)
        s01 = dot(r.neg, (v01 - a) ** 2) / (n - 1)
        se = math.sqrt(s10 / m + s01 / n)
    low, high = logit_ci(a, se, confidence)
    return AurocResult(estimate=a, se=se, ci_low=low, ci_high=high, n_positive=m, n_negative=n)


def logit_ci(a: float, se: float, confidence: float) -> tuple[float, float]:
    """CI of a probability-like estimate built on the logit scale: expit(logit a ± z·se/(a(1−a)))."""
    if math.isnan(se):
        return NAN, NAN
    if se == 0 or a <= 0 or a >= 1:
        return a, a
    centre, half = math.log(a / (1 - a)), z_quantile(confidence) * se / (a * (1 - a))
    return 1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half)))


def average_precision(y_true: Any, y_score: Any) -> float:
    """Area under the precision–recall curve as scikit-learn's `average_precision_score`: Σₖ (Rₖ − Rₖ₋₁)·Pₖ.

    Sums over the distinct score thresholds, from the highest down (no interpolation). NaN with a warning when
    there are no positives.
    """
    return average_precision_ranked(RankedScores(*check_labels_scores(y_true, y_score)))


def average_precision_ranked(r: RankedScores) -> float:
    """`average_precision` from scores already ranked."""
    if r.m == 0:
        return undefined("average precision (needs at least one positive)")
    tp = np.cumsum(r.pos[::-1])
    precision = tp / np.cumsum((r.pos + r.neg)[::-1])
    return dot(np.diff(tp, prepend=0), precision) / r.m
