"""The protected two-class score histogram a site releases, and what the hub reads from it.

Site side. The hub's `ValidationSpec` fixes a common fine grid on [0, 1]: `histogram_bins` cells equally spaced
on the logit scale between p = 10⁻⁶ and 1 − 10⁻⁶, plus 0 and 1, plus the anchors — the declared threshold, the
calibration-bin edges and the decision-curve thresholds. The site counts its positives and negatives per fine
cell and merges adjacent cells in two stages:

1. joint bins: merged until every bin holds at least `min_cell` positives AND `min_cell` negatives, so every
   score range the release describes contains both outcomes (no range is known to be all events or none);
2. class bins: inside each joint bin, each class on its own is split again into bins of at least `min_cell`
   of that class, so an abundant class keeps its shape where the other class is rare (a joint bin with 2,000
   positives and 10 negatives would otherwise say nothing about where the 2,000 lie).

Each merge is hierarchical so the anchors survive where the data allow: first cut at the threshold, then (inside
each part) at the calibration edges, then at the decision thresholds, then at the fine grid; at each level pieces
are merged greedily from the left and a short remainder joins the piece before it. An anchor kept as an edge of
both classes makes the 2×2 table (or calibration bin, or net benefit) at that value exact; an anchor is dropped
only where one side of it held a small cell.

With each class bin the site releases its count and the sum of its scores, the mean clipped into the central
part of the bin (`bound_safe_mean_range`) so that no individual score can be bounded from it. Every released
count is at least `min_cell`; counts of different classes never combine into a smaller one.

Hub side. Inside a class bin, the class is modelled as uniform on the widest interval centred on the bin's mean
that fits in the bin, [μ − r, μ + r], r = min(μ − lo, hi − μ) (a point mass when r = 0). Using the mean removes
most of the error of the plain uniform model, which spreads a bin's mass over empty space (measured figures:
docs/validation-statistics.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dari.validation._common import FloatArray, dot
from dari.validation.calibration import bin_index, uniform_edges
from dari.validation.evaluate import ValidationSpec

IntArray = np.ndarray[Any, np.dtype[np.int64]]

#: The logit-scale fine grid spans p in [GRID_P, 1 − GRID_P]; the outermost cells reach 0 and 1.
GRID_P = 1e-6
#: Intervals narrower than this are treated as point masses (avoids dividing by a vanishing width).
POINT_WIDTH = 1e-12
#: Anchors of the hub and a site's released edges are matched within this tolerance.
EDGE_TOL = 1e-12


def _check_edges(e: FloatArray) -> None:
    if e.size < 2 or e[0] != 0.0 or e[-1] != 1.0 or np.any(np.diff(e) <= 0):
        raise ValueError("edges must increase strictly from 0 to 1")


class ClassHistogram(BaseModel):
    """One class's bins [eᵢ, eᵢ₊₁) of [0, 1] (the last closed), each with its count and bound-safe score sum."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    score_sums: tuple[float, ...]
    score_decimals: int | None = Field(default=None, ge=1, le=6, description="declared resolution of the scores")

    @model_validator(mode="after")
    def _consistent(self) -> ClassHistogram:
        e = np.asarray(self.edges)
        _check_edges(e)
        k = e.size - 1
        if len(self.counts) != k or len(self.score_sums) != k:
            raise ValueError(f"counts and score sums need one value per bin ({k})")
        if any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in self.counts):
            raise ValueError("counts must be non-negative integers")
        c, s = np.asarray(self.counts, dtype=np.float64), np.asarray(self.score_sums)
        low, high = bound_safe_mean_range(c, *bin_support(e, self.score_decimals))
        slack = 1e-9 * (1 + c)
        if np.any(s < low * c - slack) or np.any(s > high * c + slack):
            raise ValueError("a bin's score sum must keep its mean in the central range [lo + w/k, hi − w/k]")
        return self


class ScoreHistogram(BaseModel):
    """Released by a site: the joint bins' edges, and each class's bins nested inside them."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    edges: tuple[float, ...]
    positives: ClassHistogram
    negatives: ClassHistogram

    @model_validator(mode="after")
    def _nested(self) -> ScoreHistogram:
        _check_edges(np.asarray(self.edges))
        for h in (self.positives, self.negatives):
            if not set(self.edges) <= set(h.edges):
                raise ValueError("every joint edge must also be an edge of each class's bins")
        return self

    def smallest_cell(self) -> int:
        """The smallest released count (every joint bin holds at least one bin of each class)."""
        return int(min(min(self.positives.counts), min(self.negatives.counts)))

    def totals(self) -> tuple[int, int]:
        """Positives and negatives in all."""
        return sum(self.positives.counts), sum(self.negatives.counts)


def bin_support(edges: FloatArray, decimals: int | None) -> tuple[FloatArray, FloatArray]:
    """Where the scores of each bin [lo, hi) can lie: [lo, hi] for continuous scores; for scores declared to
    have `decimals` decimals, from the smallest to the largest multiple of 10⁻ᵈ in the bin (the last bin
    closed at 1). A bin that can hold no such value collapses to its lower end."""
    lo, hi = edges[:-1], edges[1:]
    if decimals is None:
        return lo, hi
    scale = 10.0**decimals
    first = np.ceil(lo * scale - 1e-6)
    last = np.ceil(hi * scale - 1e-6) - 1  # the bin is open on the right
    last[-1] = np.floor(hi[-1] * scale + 1e-6)
    return first / scale, np.maximum(last, first) / scale


def bound_safe_mean_range(counts: Any, lo: FloatArray, hi: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The range a bin's released class mean must lie in so that it bounds no single score.

    k scores in [lo, hi] (the bin's support) with sum S: the largest is at most S − (k − 1)·lo, which says
    something (< hi) only when the mean is below lo + w/k (w = hi − lo); likewise the smallest. With the mean
    clipped into [lo + w/k, hi − w/k] (the midpoint when k ≤ 2) no bound tighter than the bin follows, so the
    sums never show, e.g., that no negative scored above some value — which would tell the outcome of anyone
    scoring there. A bin whose support is one declared score value is released as it is.
    """
    k = np.maximum(np.asarray(counts, dtype=np.float64), 2.0)
    w = hi - lo
    return lo + w / k, hi - w / k


def bound_safe_sums(sums: FloatArray, counts: Any, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Score sums with each bin's mean clipped into `bound_safe_mean_range` (0 for an empty class)."""
    c = np.asarray(counts, dtype=np.float64)
    low, high = bound_safe_mean_range(c, lo, hi)
    mean = np.divide(sums, c, out=(lo + hi) / 2, where=c > 0)
    safe: FloatArray = np.clip(mean, low, high) * c
    return safe


#: Up to this many declared decimals the fine grid has one cell per possible score value.
MAX_VALUE_GRID_DECIMALS = 4


def fine_grid(spec: ValidationSpec) -> FloatArray:
    """The common fine edges: 0 and 1, every anchor of the spec, and the logit grid — or, for scores declared
    to have at most 4 decimals, the midpoints between possible values (one value per cell)."""
    d = spec.score_decimals
    if d is not None and d <= MAX_VALUE_GRID_DECIMALS:
        scale = 10**d
        grid = (np.arange(scale) + 0.5) / scale
    else:
        z = np.linspace(np.log(GRID_P / (1 - GRID_P)), np.log((1 - GRID_P) / GRID_P), spec.histogram_bins - 1)
        grid = 1.0 / (1.0 + np.exp(-z))
    return np.unique(np.concatenate([[0.0, 1.0], grid, *anchor_levels(spec)]))


def anchor_levels(spec: ValidationSpec) -> list[FloatArray]:
    """Anchors in priority order: the threshold, the calibration edges, the decision thresholds."""
    return [
        np.array([spec.threshold]),
        uniform_edges(spec.calibration_bins)[1:-1],
        np.asarray(spec.decision_thresholds, dtype=np.float64),
    ]


def merge_cells(
    counts: Sequence[IntArray], levels: list[IntArray], min_cell: int, within: IntArray | None = None
) -> IntArray:
    """Indices of the fine edges kept so that every bin holds ≥ min_cell of each of `counts` (hierarchical greedy).

    `within` gives edges that stay (the joint bins when the classes are refined); each of its parts, like the
    whole range by default, must already hold ≥ min_cell of each class. Loops run once per released bin
    (searchsorted on cumulative counts), never per row or per fine cell.
    """
    n_cells = counts[0].size
    cumulative = [np.concatenate([[0], np.cumsum(c)]) for c in counts]
    kept = np.array([0, n_cells]) if within is None else within
    for level in [*levels, np.arange(n_cells + 1)]:
        candidates = np.union1d(kept, level)
        new = [0]
        for start, end in itertools.pairwise(kept.tolist()):
            inside = candidates[(candidates > start) & (candidates <= end)]
            closes: list[int] = []
            at = start
            while at < end:
                need = max(int(np.searchsorted(cum, cum[at] + min_cell, side="left")) for cum in cumulative)
                j = np.searchsorted(inside, need, side="left")
                if j == inside.size:
                    break
                at = int(inside[j])
                closes.append(at)
            if not closes:
                closes = [int(end)]
            closes[-1] = int(end)  # a short remainder joins the piece before it
            new.extend(closes)
        kept = np.asarray(new)
    return kept


def _class_histogram(
    edges: FloatArray, kept: IntArray, counts: IntArray, sums: Any, decimals: int | None
) -> ClassHistogram:
    starts = kept[:-1]
    merged, merged_sums = np.add.reduceat(counts, starts), np.add.reduceat(sums, starts)
    support = bin_support(edges[kept], decimals)
    return ClassHistogram(
        edges=tuple(edges[kept].tolist()),
        counts=tuple(int(v) for v in merged),
        score_sums=tuple(bound_safe_sums(merged_sums, merged, *support).tolist()),
        score_decimals=decimals,
    )


def build_histogram(labels: Any, scores: FloatArray, spec: ValidationSpec, min_cell: int) -> ScoreHistogram:
    """The site's protected histogram (the caller has checked ≥ min_cell events and non-events)."""
    edges = fine_grid(spec)
    idx = bin_index(scores, edges)
    n_cells = edges.size - 1
    pos = np.bincount(idx[labels], minlength=n_cells)
    neg = np.bincount(idx[~labels], minlength=n_cells)
    levels = [np.flatnonzero(np.isin(edges, a)) for a in anchor_levels(spec)]
    joint = merge_cells([pos, neg], levels, min_cell)
    d = spec.score_decimals
    return ScoreHistogram(
        edges=tuple(edges[joint].tolist()),
        positives=_class_histogram(
            edges,
            merge_cells([pos], levels, min_cell, joint),
            pos,
            np.bincount(idx[labels], scores[labels], n_cells),
            d,
        ),
        negatives=_class_histogram(
            edges,
            merge_cells([neg], levels, min_cell, joint),
            neg,
            np.bincount(idx[~labels], scores[~labels], n_cells),
            d,
        ),
    )


class ClassIntervals:
    """One class of one histogram as intervals [a, b] with counts c (the hub's within-bin model)."""

    def __init__(self, hist: ClassHistogram) -> None:
        c = np.asarray(hist.counts, dtype=np.float64)
        lo, hi = bin_support(np.asarray(hist.edges), hist.score_decimals)
        mean = np.clip(np.divide(hist.score_sums, c, out=(lo + hi) / 2, where=c > 0), lo, hi)
        r = np.minimum(mean - lo, hi - mean)
        r[r < POINT_WIDTH / 2] = 0.0
        self.a, self.b, self.c = mean - r, mean + r, c

    def count_at_or_above(self, t: FloatArray) -> FloatArray:
        """Expected count with score ≥ t, for each t."""
        t = t[:, None]
        w = self.b - self.a
        frac = np.where(w > 0, np.clip((self.b - t) / np.where(w > 0, w, 1.0), 0.0, 1.0), self.a >= t)
        expected: FloatArray = np.einsum("tk,k->t", frac.astype(np.float64), self.c)
        return expected


def _prob_greater(a1: FloatArray, b1: FloatArray, a2: FloatArray, b2: FloatArray) -> FloatArray:
    """P(X > Y) + ½P(X = Y) for X ~ U[a1, b1], Y ~ U[a2, b2] independent (zero width = point mass)."""
    w1, w2 = b1 - a1, b2 - a2
    safe2 = np.where(w2 > 0, w2, 1.0)
    safe1 = np.where(w1 > 0, w1, 1.0)

    def h(x: FloatArray) -> FloatArray:  # ∫_{-∞}^{x} F_Y
        inside = np.clip(x - a2, 0.0, w2)
        out: FloatArray = inside**2 / (2 * safe2) + np.clip(x - b2, 0.0, None)
        return out

    both = (h(b1) - h(a1)) / safe1
    x_point = np.clip((a1 - a2) / safe2, 0.0, 1.0)
    y_point = np.clip((b1 - a2) / safe1, 0.0, 1.0)
    points = np.where(a1 > a2, 1.0, np.where(a1 == a2, 0.5, 0.0))
    p: FloatArray = np.where(w1 > 0, np.where(w2 > 0, both, y_point), np.where(w2 > 0, x_point, points))
    return p


def concordant_pairs(pos: ClassIntervals, neg: ClassIntervals) -> float:
    """Expected concordant pairs (ties ½) between the positives of one histogram and the negatives of another."""
    cum_neg = np.concatenate([[0.0], np.cumsum(neg.c)])
    first = np.searchsorted(neg.b, pos.a, side="left")  # negatives wholly below start here
    stop = np.searchsorted(neg.a, pos.b, side="right")  # negatives wholly above start here
    below = cum_neg[first]
    span = np.maximum(stop - first, 0)
    k = np.repeat(np.arange(pos.c.size), span)
    j = np.repeat(first, span) + (np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span))
    overlap = np.bincount(k, _prob_greater(pos.a[k], pos.b[k], neg.a[j], neg.b[j]) * neg.c[j], pos.c.size)
    return dot(pos.c, below + overlap)


def has_edge(hist: ScoreHistogram, values: FloatArray) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which of `values` are edges of both classes' bins (so counts at or above them are exact)."""
    found = []
    for h in (hist.positives, hist.negatives):
        e = np.asarray(h.edges)
        found.append(np.any(np.abs(values[:, None] - e[None, :]) <= EDGE_TOL, axis=1))
    both: np.ndarray[Any, np.dtype[np.bool_]] = found[0] & found[1]
    return both
