"""One-way sensitivity analysis: each uncertain parameter at its low and high bound, all in one vectorised run."""

from __future__ import annotations

from dataclasses import dataclass

from dari.econ import distributions
from dari.econ.engine import evaluate
from dari.econ.params import columns, primary_base
from dari.econ.spec import ModelSpec


@dataclass(frozen=True)
class OneWay:
    """Incremental NMB (intervention − comparator) at a parameter's low and high bound."""

    parameter: str
    low: float
    high: float
    inmb_low: float
    inmb_high: float
    icer_low: float | None
    icer_high: float | None

    @property
    def swing(self) -> float:
        """|INMB(high) − INMB(low)|: the bar length in the tornado."""
        return abs(self.inmb_high - self.inmb_low)


def bounds(spec: ModelSpec) -> dict[str, tuple[float, float]]:
    """Low/high per parameter: explicit `low`/`high`, else the distribution's 2.5 % and 97.5 % quantiles."""
    out: dict[str, tuple[float, float]] = {}
    for k, p in spec.parameters.items():
        if isinstance(p.value, str):
            continue
        value = float(p.value)
        low = p.low if p.low is not None else distributions.quantile(p.distribution, value, 0.025)
        high = p.high if p.high is not None else distributions.quantile(p.distribution, value, 0.975)
        if low != high:
            out[k] = (low, high)
    return out


def one_way(spec: ModelSpec, intervention: str, comparator: str, wtp: float) -> list[OneWay]:
    """INMB = λ·ΔQALY − ΔC at each bound, sorted by swing (largest first) for the tornado diagram."""
    ranges = bounds(spec)
    if not ranges:
        return []
    base = primary_base(spec)
    variants = [{k: lo} for k, (lo, _) in ranges.items()] + [{k: hi} for k, (_, hi) in ranges.items()]
    res = evaluate(spec, columns(spec, [{**base, **v} for v in variants]), where="one-way sensitivity analysis")
    d_cost = res[intervention].cost - res[comparator].cost
    d_qaly = res[intervention].qaly - res[comparator].qaly
    inmb = wtp * d_qaly - d_cost
    m = len(ranges)
    rows = []
    for i, (k, (lo, hi)) in enumerate(ranges.items()):

        def ratio(j: int) -> float | None:
            return float(d_cost[j] / d_qaly[j]) if d_qaly[j] != 0 else None

        rows.append(OneWay(k, lo, hi, float(inmb[i]), float(inmb[m + i]), ratio(i), ratio(m + i)))
    return sorted(rows, key=lambda r: r.swing, reverse=True)
