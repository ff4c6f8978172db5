"""Incremental analysis: strict and extended dominance, ICERs along the efficiency frontier, net monetary benefit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["frontier", "dominated", "extendedly dominated"]


@dataclass(frozen=True)
class Row:
    """One strategy in the incremental table; `icer` and `versus` are set on the frontier (but its first)."""

    strategy: str
    cost: float
    effect: float
    status: Status
    versus: str | None = None
    incremental_cost: float | None = None
    incremental_effect: float | None = None
    icer: float | None = None


def frontier(costs: dict[str, float], effects: dict[str, float]) -> list[Row]:
    """Drummond et al. (2015) §4: sort by cost; drop strictly dominated (costlier, not more effective);
    then repeatedly drop extendedly dominated options (ICER higher than the next one's); ICERs between neighbours."""
    order = sorted(costs, key=lambda s: (costs[s], -effects[s]))
    status: dict[str, Status] = {}
    kept: list[str] = []
    for s in order:
        # strict dominance: some cheaper-or-equal option is at least as effective
        if kept and max(effects[k] for k in kept) >= effects[s]:
            status[s] = "dominated"
        else:
            kept.append(s)
    changed = True
    while changed and len(kept) > 2:
        changed = False
        icers = [_icer(costs, effects, kept[i - 1], kept[i]) for i in range(1, len(kept))]
        for i in range(1, len(icers)):
            if icers[i - 1] > icers[i]:
                status[kept[i]] = "extendedly dominated"
                del kept[i]
                changed = True
                break
    rows: dict[str, Row] = {}
    for i, s in enumerate(kept):
        if i == 0:
            rows[s] = Row(s, costs[s], effects[s], "frontier")
        else:
            prev = kept[i - 1]
            d_c, d_e = costs[s] - costs[prev], effects[s] - effects[prev]
            rows[s] = Row(s, costs[s], effects[s], "frontier", prev, d_c, d_e, _icer(costs, effects, prev, s))
    for s, st in status.items():
        rows[s] = Row(s, costs[s], effects[s], st)
    return [rows[s] for s in order]


def _icer(costs: dict[str, float], effects: dict[str, float], a: str, b: str) -> float:
    d_e = effects[b] - effects[a]
    return (costs[b] - costs[a]) / d_e if d_e > 0 else float("inf")


def icer(cost_new: float, effect_new: float, cost_old: float, effect_old: float) -> float | None:
    """ΔC / ΔE of a pairwise comparison; None when ΔE = 0 (the ratio is undefined)."""
    d_e = effect_new - effect_old
    return None if d_e == 0 else (cost_new - cost_old) / d_e


def net_monetary_benefit(cost: float, effect: float, wtp: float) -> float:
    """NMB = λ·E − C at willingness to pay λ per unit of effect (Stinnett & Mullahy, MDM 1998)."""
    return wtp * effect - cost
