"""One numeric variable of a Table 1 (age, a lab): its exact site summary and the disclosure-controlled release.

Mean, SD and quartiles are released only when computed over at least `min_cell` persons (quantiles of a few
values are nearly the values themselves). The histogram that lets the hub pool quantiles (dari.cohort.pooling)
merges adjacent grid bins, left to right, until each holds at least `min_cell` persons; its counts are rounded.
Under a release ledger (`protect_numeric(..., release=...)`) n and every bin are the noisy protected counts of
their person sets, recorded in the release.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from dari.cohort.pooling import HistogramBin
from dari.disclosure import DisclosureRules, ProtectedCount, protect_count
from dari.errors import InputError

if TYPE_CHECKING:
    from dari.federation.ledger import Release


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
    members: np.ndarray[Any, Any] | None = None  # person ids behind n (for the release ledger)
    member_bins: np.ndarray[Any, Any] | None = None  # each member's grid index k (None without a grid)


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


def protect_numeric(
    raw: RawNumeric, rules: DisclosureRules, *, release: Release | None = None, key: str = ""
) -> NumericSummary:
    """Protected n; statistics and histogram only when n ≥ min_cell (with `release`: recorded, keyed noise)."""
    ok = raw.n >= rules.min_cell
    if release is not None and raw.members is None:
        raise InputError(f"{key}: a release under the ledger needs the persons behind the summary")
    merged = merge_bins(raw.bins, raw.bin_width, rules.min_cell) if ok and raw.bin_width else []
    hist = []
    for j, (lo, hi, n) in enumerate(merged):
        persons = protect_count(n, rules)
        if release is not None and raw.members is not None and raw.bin_width:
            k = raw.member_bins if raw.member_bins is not None else np.zeros(0, np.int64)
            inside = (k >= round(lo / raw.bin_width)) & (k < round(hi / raw.bin_width))
            persons = release.count(f"{key}:bin[{j}]", raw.members[inside])
        hist.append(HistogramBin(low=_round(lo) or 0.0, high=_round(hi) or 0.0, persons=persons))
    n_shown = protect_count(raw.n, rules) if release is None else release.count(f"{key}:n", raw.members)
    return NumericSummary(
        n=n_shown,
        released=ok,
        mean=_round(raw.mean) if ok else None,
        sd=_round(raw.sd) if ok else None,
        q1=_round(raw.q1) if ok else None,
        median=_round(raw.median) if ok else None,
        q3=_round(raw.q3) if ok else None,
        bin_width=raw.bin_width,
        histogram=hist,
    )
