"""Slow, obviously correct pure-Python references for the risk metrics (one loop over rows, no cleverness)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

Row = dict[str, Any]


def classes(rows: Sequence[Row], qis: Sequence[str]) -> dict[tuple[Any, ...], list[Row]]:
    out: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        out.setdefault(tuple(row[q] for q in qis), []).append(row)
    return out


def k_anonymity(rows: Sequence[Row], qis: Sequence[str]) -> int:
    return min(len(members) for members in classes(rows, qis).values())


def l_distinct(rows: Sequence[Row], qis: Sequence[str], s: str) -> int:
    return min(len({r[s] for r in members}) for members in classes(rows, qis).values())


def l_entropy(rows: Sequence[Row], qis: Sequence[str], s: str) -> float:
    worst = math.inf
    for members in classes(rows, qis).values():
        counts = Counter(r[s] for r in members)
        h = -sum(c / len(members) * math.log(c / len(members)) for c in counts.values())
        worst = min(worst, h)
    return math.exp(worst)


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is None, value)  # SQL orders NULL last


def t_closeness(rows: Sequence[Row], qis: Sequence[str], s: str, ordered: bool) -> float:
    values = sorted({r[s] for r in rows}, key=_sort_key)
    total = Counter(r[s] for r in rows)
    q = [total[v] / len(rows) for v in values]
    worst = 0.0
    for members in classes(rows, qis).values():
        counts = Counter(r[s] for r in members)
        p = [counts[v] / len(members) for v in values]
        if ordered:
            if len(values) == 1:
                emd = 0.0
            else:
                cumulative, acc = 0.0, 0.0
                for pi, qi in zip(p, q, strict=True):
                    cumulative += pi - qi
                    acc += abs(cumulative)
                emd = acc / (len(values) - 1)
        else:
            emd = 0.5 * sum(abs(pi - qi) for pi, qi in zip(p, q, strict=True))
        worst = max(worst, emd)
    return worst


def risks(
    rows: Sequence[Row], qis: Sequence[str], threshold: float, population: Sequence[Row] | None = None
) -> dict[str, float]:
    """ARX prosecutor / journalist / marketer figures, straight from the definitions, record by record."""
    sample = classes(rows, qis)
    pop = classes(population, qis) if population is not None else sample
    n = len(rows)
    f = {key: len(members) for key, members in sample.items()}
    big = {key: max(len(pop.get(key, [])), f[key]) for key in sample}
    per_record_p = [1 / f[tuple(r[q] for q in qis)] for r in rows]
    per_record_j = [1 / big[tuple(r[q] for q in qis)] for r in rows]
    return {
        "p_at_risk": sum(1 for x in per_record_p if x > threshold) / n,
        "p_highest": max(per_record_p),
        "p_average": len(sample) / n,
        "j_at_risk": sum(1 for x in per_record_j if x > threshold) / n,
        "j_highest": max(per_record_j),
        "j_average": max(len(sample) / sum(big.values()), sum(per_record_j) / n),
        "marketer": sum(per_record_j) / n,
    }
