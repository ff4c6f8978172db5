"""One full analysis of a model: base case, incremental table, one-way SA, PSA and budget impact, as JSON-ready data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dari.econ import incremental
from dari.econ.budget import BudgetYear, budget_impact
from dari.econ.engine import StrategyResult, evaluate
from dari.econ.owsa import OneWay, one_way
from dari.econ.params import base_values
from dari.econ.psa import PsaResult, default_grid, run_psa
from dari.econ.spec import ModelSpec


@dataclass
class Analysis:
    """Everything a report needs; `to_dict` gives the machine-readable results."""

    spec: ModelSpec
    wtp: float
    base: dict[str, StrategyResult]
    table: list[incremental.Row]
    intervention: str
    comparator: str
    one_way: list[OneWay] = field(default_factory=list)
    psa: PsaResult | None = None
    seed: int | None = None
    budget: list[BudgetYear] = field(default_factory=list)
    evppi: dict[str, float] = field(default_factory=dict)  # per person, at the analysis λ
    scenarios: dict[str, dict[str, StrategyResult]] = field(default_factory=dict)  # deterministic, per scenario

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable results (schema `dari-econ-results/1`)."""
        strategies = {
            s: {
                "label": self.spec.strategies[s].label or s,
                "cost": float(r.cost[0]),
                "qaly": float(r.qaly[0]),
                "life_years": float(r.ly[0]),
                "cost_undiscounted": float(r.cost_undiscounted[0]),
                "qaly_undiscounted": float(r.qaly_undiscounted[0]),
                "life_years_undiscounted": float(r.ly_undiscounted[0]),
                "nmb": incremental.net_monetary_benefit(float(r.cost[0]), float(r.qaly[0]), self.wtp),
                "tree": {k: float(v[0]) for k, v in r.branches.items()},
            }
            for s, r in self.base.items()
        }
        out: dict[str, Any] = {
            "schema": "dari-econ-results/1",
            "model": self.spec.model.name,
            "file": self.spec.file,
            "currency": self.spec.model.currency,
            "wtp": self.wtp,
            "settings": self.spec.model.model_dump(),
            "strategies": strategies,
            "incremental": [asdict(r) for r in self.table],
            "comparison": {"intervention": self.intervention, "comparator": self.comparator, **self.pairwise()},
            "one_way": [asdict(r) for r in self.one_way],
            "budget_impact": [{**asdict(b), "impact": b.impact} for b in self.budget],
            "scenarios": {name: self._scenario(res) for name, res in self.scenarios.items()},
        }
        if self.psa is not None:
            p = self.psa
            i = p.wtp_grid.searchsorted(self.wtp)
            at = min(int(i), len(p.wtp_grid) - 1)
            out["psa"] = {
                "iterations": int(p.costs.shape[1]),
                "seed": self.seed,
                "mean_cost": dict(zip(p.strategies, p.costs.mean(axis=1).tolist(), strict=True)),
                "mean_qaly": dict(zip(p.strategies, p.qalys.mean(axis=1).tolist(), strict=True)),
                "cost_95ci": {
                    s: np.percentile(c, [2.5, 97.5]).tolist() for s, c in zip(p.strategies, p.costs, strict=True)
                },
                "qaly_95ci": {
                    s: np.percentile(q, [2.5, 97.5]).tolist() for s, q in zip(p.strategies, p.qalys, strict=True)
                },
                "wtp_grid": p.wtp_grid.tolist(),
                "ceac": {s: p.ceac[k].tolist() for k, s in enumerate(p.strategies)},
                "frontier": p.frontier,
                "evpi": p.evpi.tolist(),
                "probability_cost_effective_at_wtp": {s: float(p.ceac[k, at]) for k, s in enumerate(p.strategies)},
                "evpi_at_wtp": float(p.evpi[at]),
                "evppi_at_wtp": dict(self.evppi),
            }
        return out

    def _scenario(self, res: dict[str, StrategyResult]) -> dict[str, Any]:
        a, b = res[self.intervention], res[self.comparator]
        return {
            "strategies": {s: {"cost": float(r.cost[0]), "qaly": float(r.qaly[0])} for s, r in res.items()},
            "icer": incremental.icer(float(a.cost[0]), float(a.qaly[0]), float(b.cost[0]), float(b.qaly[0])),
        }

    def pairwise(self) -> dict[str, float | None]:
        """ΔC, ΔQALY, ICER and incremental NMB of the intervention against the comparator (base case)."""
        a, b = self.base[self.intervention], self.base[self.comparator]
        d_c, d_q = float(a.cost[0] - b.cost[0]), float(a.qaly[0] - b.qaly[0])
        return {
            "incremental_cost": d_c,
            "incremental_qaly": d_q,
            "incremental_life_years": float(a.ly[0] - b.ly[0]),
            "icer": incremental.icer(float(a.cost[0]), float(a.qaly[0]), float(b.cost[0]), float(b.qaly[0])),
            "inmb": self.wtp * d_q - d_c,
        }


def evppi_groups(spec: ModelSpec, psa: PsaResult, wtp: float) -> dict[str, float]:
    """EVPPI of each `[evppi]` group at λ (regression on the PSA draws; dari.econ.evppi)."""
    from dari.econ.evppi import evppi

    nmb = psa.nmb(wtp)
    out: dict[str, float] = {}
    for group, members in spec.evppi.items():
        inputs = np.column_stack([psa.draws[k] for k in members])
        out[group] = evppi(nmb, inputs)
    return out


def analyse(
    spec: ModelSpec,
    *,
    wtp: float | None = None,
    psa_iterations: int = 0,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> Analysis:
    """Run the whole evaluation; the PSA is skipped when psa_iterations is 0."""
    lam = spec.model.wtp if wtp is None else wtp
    names = list(spec.strategies)
    comparator = spec.model.comparator or names[0]
    intervention = spec.model.intervention or next((s for s in names if s != comparator), comparator)
    base = evaluate(spec, base_values(spec), where="base case", keep_trace=True)
    table = incremental.frontier(
        {s: float(r.cost[0]) for s, r in base.items()}, {s: float(r.qaly[0]) for s, r in base.items()}
    )
    result = Analysis(spec, lam, base, table, intervention, comparator, seed=seed)
    if intervention != comparator:
        result.one_way = one_way(spec, intervention, comparator, lam)
    if psa_iterations > 0:
        # the grid holds the analysis λ (also when --wtp overrides the model's), so the figures at λ are exact
        result.psa = run_psa(spec, psa_iterations, seed, progress=progress, wtp_grid=default_grid(lam))
        result.evppi = evppi_groups(spec, result.psa, lam)
    result.budget = budget_impact(spec)
    for name, overrides in spec.scenarios.items():  # scenario analysis: the base case with these inputs changed
        result.scenarios[name] = evaluate(spec, base_values(spec, overrides), where=f"scenario {name}")
    return result
