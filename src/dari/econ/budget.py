"""Budget impact over the first years of adoption (ISPOR BIA good practice, Sullivan et al. 2014; HIRA guidance)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dari.econ.engine import evaluate
from dari.econ.params import base_values
from dari.econ.spec import ModelSpec


@dataclass(frozen=True)
class BudgetYear:
    """Payer spending in one year with and without the new strategy (undiscounted, as BIA convention asks)."""

    year: int
    population: float
    uptake: float
    current_scenario: float
    new_scenario: float
    offset: float

    @property
    def impact(self) -> float:
        """New-scenario minus current-scenario spending, offsets included."""
        return self.new_scenario + self.offset - self.current_scenario


def budget_impact(spec: ModelSpec) -> list[BudgetYear]:
    """Each year's eligible cohort is followed by the Markov model; year y spends Σ_{c≤y} N_c·cost_s(y − c + 1).

    Per-person cost in follow-up year j comes from the undiscounted per-cycle costs (cycles grouped into years).
    The new scenario splits each cohort by that year's uptake; the current one gives everybody current care.
    """
    bia = spec.budget_impact
    if bia is None:
        return []
    res = evaluate(spec, base_values(spec, bia.prices), where="budget impact")
    years = len(bia.population)
    per_new = _annual(res[bia.new].cycle_costs, spec.model.cycle_length, years)
    per_cur = _annual(res[bia.current].cycle_costs, spec.model.cycle_length, years)
    rows = []
    for y in range(years):
        current = new = 0.0
        for c in range(y + 1):
            n, u, j = bia.population[c], bia.uptake[c], y - c
            current += n * per_cur[j]
            new += n * (u * per_new[j] + (1 - u) * per_cur[j])
        offset = bia.offsets[y] if bia.offsets else 0.0
        rows.append(BudgetYear(y + 1, bia.population[y], bia.uptake[y], current, new, offset))
    return rows


def _annual(cycle_costs: np.ndarray | None, cycle_length: float, years: int) -> list[float]:
    """Sum per-cycle costs (first iteration) into follow-up years; zeros past the horizon."""
    out = [0.0] * years
    if cycle_costs is None:
        return out
    for t, c in enumerate(cycle_costs[:, 0]):
        year = int(t * cycle_length + 1e-9)
        if year < years:
            out[year] += float(c)
    return out
