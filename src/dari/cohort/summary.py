"""One numeric variable of a Table 1 (age, a lab): its exact site summary and the disclosure-controlled release.

Mean, SD and quartiles are released only when computed over at least `min_cell` persons (quantiles of a few
values are nearly the values themselves). The histogram that lets the hub pool quantiles (dari.cohort.pooling)
merges adjacent grid bins, left to right, until each holds at least `min_cell` persons; its counts are rounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from dari.cohort.pooling import HistogramBin
from dari.disclosure import DisclosureRules, ProtectedCount, protect_count


@dataclass(frozen=True)
class RawNumeric:
    """Exact summary of one variable: site-internal only."""

    n: int
    mean: float | None
    sd: float | None
    q1: float | None
    median: float | None
    q3: float | None
    bin_width: float | None
    bins: dict[int, int]  # grid index k (values in [k·w, (k+1)·w)) -> persons


class NumericSummary(BaseModel):
    """A variable's protected summary; statistics are None unless computed over at least min_cell persons."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    n: ProtectedCount
    released: bool
    mean: float | None
    sd: float | None
    q1: float | None
    median: float | None
    q3: float | None
    bin_width: float | None
    histogram: list[HistogramBin]


def merge_bins(bins: dict[int, int], width: float, min_cell: int) -> list[tuple[float, float, int]]:
    """Merge adjacent grid bins, left to right, until each holds ≥ min_cell persons; a short tail joins the last."""
    merged: list[tuple[float, float, int]] = []
    start: int | None = None
    acc = 0
    for k in sorted(bins):
        start = k if start is None else start
        acc += bins[k]
        if acc >= min_cell:
            merged.append((start * width, (k + 1) * width, acc))
            start, acc = None, 0
    if acc and merged:
        lo, _, n = merged[-1]
        merged[-1] = (lo, (max(bins) + 1) * width, n + acc)
    return merged


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def protect_numeric(raw: RawNumeric, rules: DisclosureRules) -> NumericSummary:
    """Protected n; statistics and histogram only when n ≥ min_cell."""
    ok = raw.n >= rules.min_cell
    hist = (
        [
            HistogramBin(low=_round(lo) or 0.0, high=_round(hi) or 0.0, persons=protect_count(n, rules))
            for lo, hi, n in merge_bins(raw.bins, raw.bin_width, rules.min_cell)
        ]
        if ok and raw.bin_width
        else []
    )
    return NumericSummary(
        n=protect_count(raw.n, rules),
        released=ok,
        mean=_round(raw.mean) if ok else None,
        sd=_round(raw.sd) if ok else None,
        q1=_round(raw.q1) if ok else None,
        median=_round(raw.median) if ok else None,
        q3=_round(raw.q3) if ok else None,
        bin_width=raw.bin_width,
        histogram=hist,
    )
