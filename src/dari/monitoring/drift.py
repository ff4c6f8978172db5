"""Drift of each model input and of the score against the validation distribution: PSI and Kolmogorov–Smirnov.

Population stability index over the reference's deciles: PSI = Σ (a_i − e_i) · ln(a_i / e_i), with e_i and a_i the
reference and current shares of bin i (shares floored at 1e-4 so an empty bin stays finite). Conventional reading
(Siddiqi 2006): < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift. The two-sample KS test (SciPy) gives the
largest CDF distance D and its p-value; with thousands of requests tiny shifts are significant, so alerts use D and
PSI thresholds, and the p-value is reported beside them.

The reference is kept as quantile bin edges and shares plus a bounded sample (default 5,000 values per input), never
as rows with identifiers: it is built at the site from the validation cohort's model inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from dari.errors import InputError

_FLOOR = 1e-4
FloatArray = npt.NDArray[np.float64]


class ReferenceDistribution(BaseModel):
    """One input's (or the score's) distribution at validation: decile edges, shares and a bounded sample."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    edges: list[float]
    shares: list[float]
    sample: list[float]


class DriftThresholds(BaseModel):
    """When an input or the score counts as drifted (set per model)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    psi: float = Field(default=0.25, gt=0)
    ks_d: float = Field(default=0.15, gt=0, le=1)
    min_current: int = Field(default=200, ge=20, description="no verdict on fewer current values")


class DriftResult(BaseModel):
    """Drift of one input or the score over a window of requests."""

    model_config = ConfigDict(frozen=True)
    name: str
    n_reference: int
    n_current: int
    psi: float | None
    ks_d: float | None
    ks_p: float | None
    drifted: bool
    verdict: str


def reference_distribution(
    name: str, values: Sequence[float] | FloatArray, *, bins: int = 10, sample_size: int = 5000, seed: int = 0
) -> ReferenceDistribution:
    """Quantile edges, shares and a random sample of the validation values of one input."""
    x = _finite(name, values)
    if x.size < bins:
        raise InputError(f"{name}: at least {bins} reference values are needed, got {x.size}")
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
    shares = _shares(x, edges)
    rng = np.random.default_rng(seed)
    sample = x if x.size <= sample_size else rng.choice(x, sample_size, replace=False)
    return ReferenceDistribution(name=name, edges=edges.tolist(), shares=shares.tolist(), sample=sample.tolist())


def _finite(name: str, values: Sequence[float] | FloatArray) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    return x[np.isfinite(x)]


def _shares(x: FloatArray, edges: FloatArray) -> FloatArray:
    counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=edges.size + 1).astype(np.float64)
    shares: FloatArray = counts / max(float(counts.sum()), 1.0)
    return shares


def population_stability_index(reference: ReferenceDistribution, current: Sequence[float] | FloatArray) -> float:
    """PSI of the current values against the reference's bins."""
    expected = np.maximum(np.asarray(reference.shares), _FLOOR)
    actual = np.maximum(_shares(_finite(reference.name, current), np.asarray(reference.edges)), _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift(
    reference: ReferenceDistribution, current: Sequence[float] | FloatArray, thresholds: DriftThresholds | None = None
) -> DriftResult:
    """PSI and KS of a window of current values; drifted when either passes its threshold."""
    from scipy.stats import ks_2samp

    t = thresholds or DriftThresholds()
    x = _finite(reference.name, current)
    if x.size < t.min_current:
        return DriftResult(
            name=reference.name,
            n_reference=len(reference.sample),
            n_current=int(x.size),
            psi=None,
            ks_d=None,
            ks_p=None,
            drifted=False,
            verdict=f"too few values ({x.size} < {t.min_current})",
        )
    psi = population_stability_index(reference, x)
    ks = ks_2samp(np.asarray(reference.sample), x)
    d, p = float(ks.statistic), float(ks.pvalue)
    drifted = psi > t.psi or d > t.ks_d
    verdict = (
        "major shift"
        if psi > t.psi
        else "distribution shifted"
        if d > t.ks_d
        else ("moderate shift" if psi > 0.1 else "stable")
    )
    return DriftResult(
        name=reference.name,
        n_reference=len(reference.sample),
        n_current=int(x.size),
        psi=psi,
        ks_d=d,
        ks_p=p,
        drifted=drifted,
        verdict=verdict,
    )


def drift_report(
    references: Mapping[str, ReferenceDistribution],
    current: Mapping[str, Sequence[float]],
    thresholds: DriftThresholds | None = None,
) -> list[DriftResult]:
    """Drift of every input and the score that has a reference."""
    return [drift(ref, current.get(name, ()), thresholds) for name, ref in references.items()]
