"""Pooling of protected site figures at the hub: counts, means/SDs, and approximate quantiles from histograms.

Only what left the sites is used. A pooled count is the sum of the released (rounded) values; when any site's
cell was suppressed the pooled figure is a lower bound and says so ("≥ 120"), with the largest value it could
take (each suppressed cell is below its site's `min_cell`).

Means and SDs pool from each site's (n, mean, SD), equivalent to the sufficient statistics (n, Σx, Σx²):
Σx = n·mean and Σx² = (n − 1)·SD² + n·mean². The n used is the released, rounded n: a site never releases Σx
beside its mean, as Σx / mean would give back the exact n that rounding hides. Pooled:
mean = ΣΣx / N and SD = √((ΣΣx² − N·mean²) / (N − 1)), N = Σn.

Quantiles pool from each site's histogram (bins of at least `min_cell` persons on a grid shared by all sites):
the pooled distribution is the mixture of the sites' histograms, each bin spreading its persons evenly over its
interval, and a quantile is where that piecewise-linear CDF reaches q; the error is within the widest bin around it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from dari.disclosure import DisclosureRules, ProtectedCount


class PooledCount(BaseModel):
    """A sum of released site counts; a lower bound when some site's cell was suppressed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    value: int
    shown: str
    includes_suppressed: bool
    suppressed_sites: int
    upper_bound: int | None


class HistogramBin(BaseModel):
    """Persons with a value in [low, high): never fewer than the site's minimum cell."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    low: float
    high: float
    persons: ProtectedCount


def pool_counts(counts: Sequence[ProtectedCount], rules: Sequence[DisclosureRules]) -> PooledCount:
    """Sum the released values; a suppressed cell adds nothing to the value and at most min_cell − 1 to the bound."""
    value = sum(c.value or 0 for c in counts)
    suppressed = [r for c, r in zip(counts, rules, strict=True) if c.suppressed]
    upper = value + sum(r.min_cell - 1 for r in suppressed)
    if not suppressed:
        shown = str(value)
    elif value > 0:
        shown = f"≥ {value}"
    else:
        shown = f"≤ {upper}"
    return PooledCount(
        value=value,
        shown=shown,
        includes_suppressed=bool(suppressed),
        suppressed_sites=len(suppressed),
        upper_bound=upper,
    )


def pool_mean_sd(parts: Sequence[tuple[int, float, float]]) -> tuple[float | None, float | None]:
    """Pooled mean and sample SD from per-site (n, mean, SD); None where undefined (N = 0, or N = 1 for SD)."""
    n_total = sum(n for n, _, _ in parts)
    if n_total == 0:
        return None, None
    s1 = sum(n * m for n, m, _ in parts)
    s2 = sum((n - 1) * sd * sd + n * m * m for n, m, sd in parts)
    mean = s1 / n_total
    if n_total < 2:
        return mean, None
    var = max((s2 - n_total * mean * mean) / (n_total - 1), 0.0)  # cancellation can dip just below zero
    return mean, math.sqrt(var)


def histogram_quantile(bins: Sequence[HistogramBin], q: float) -> float | None:
    """The q-quantile of the mixture of histogram bins (uniform within each bin); None without released bins."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    weighted = [(b.low, b.high, float(b.persons.value)) for b in bins if b.persons.value]
    if not weighted:
        return None
    edges = np.unique(np.array([e for lo, hi, _ in weighted for e in (lo, hi)]))
    cdf = np.zeros_like(edges)
    for lo, hi, w in weighted:
        cdf += w * np.clip((edges - lo) / (hi - lo), 0.0, 1.0)
    cdf /= cdf[-1]
    k = int(np.searchsorted(cdf, q, side="left"))
    if k == 0:
        return float(edges[0])
    lo_cdf, hi_cdf = cdf[k - 1], cdf[k]
    frac = 0.0 if hi_cdf == lo_cdf else (q - lo_cdf) / (hi_cdf - lo_cdf)
    return float(edges[k - 1] + frac * (edges[k] - edges[k - 1]))
