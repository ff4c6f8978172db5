"""`dari econ icers`: incremental analysis of strategies whose costs and effects come from elsewhere (a CSV file)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from dari.econ.incremental import Row, frontier
from dari.errors import InputError

#: Accepted column names (lower case): the first found of each is used.
STRATEGY_COLUMNS = ("strategy", "전략")
COST_COLUMNS = ("cost", "비용")
EFFECT_COLUMNS = ("effect", "qaly", "qalys", "효과")
_ORDER = {"frontier": 0, "extendedly dominated": 1, "dominated": 2}


def read_costs_effects(path: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Strategy → cost and strategy → effect from a CSV with a header (strategy, cost, effect or qaly)."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel writes a BOM
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=file) from None
    except UnicodeDecodeError:
        raise InputError("must be UTF-8 CSV", file=file) from None
    reader = csv.DictReader(text.splitlines())
    header = {h.strip().lower(): h for h in reader.fieldnames or [] if h}
    names = [_column(header, wanted, file) for wanted in (STRATEGY_COLUMNS, COST_COLUMNS, EFFECT_COLUMNS)]
    costs: dict[str, float] = {}
    effects: dict[str, float] = {}
    for row_no, row in enumerate(reader, start=2):
        name = (row.get(names[0]) or "").strip()
        if not name:
            raise InputError("empty strategy name", file=file, row=row_no, column=names[0])
        if name in costs:
            raise InputError(f"strategy {name!r} appears twice", file=file, row=row_no, column=names[0])
        costs[name] = _number(row.get(names[1]), file, row_no, names[1])
        effects[name] = _number(row.get(names[2]), file, row_no, names[2])
    if not costs:
        raise InputError("no strategies (only a header)", file=file)
    return costs, effects


def _column(header: dict[str, str], wanted: tuple[str, ...], file: str) -> str:
    for w in wanted:
        if w in header:
            return header[w]
    raise InputError(f"needs a column named {' or '.join(wanted)}; found {', '.join(header) or 'none'}", file=file)


def _number(raw: str | None, file: str, row: int, column: str) -> float:
    try:
        value = float((raw or "").replace(",", "").strip())
    except ValueError:
        raise InputError(f"not a number: {raw!r}", file=file, row=row, column=column) from None
    if not math.isfinite(value):
        raise InputError(f"must be finite, got {raw!r}", file=file, row=row, column=column)
    return value


def incremental_table(costs: dict[str, float], effects: dict[str, float]) -> list[Row]:
    """The frontier first (by cost, with ICERs between neighbours), then extendedly and strictly dominated options."""
    rows = frontier(costs, effects)
    return sorted(rows, key=lambda r: (_ORDER[r.status], r.cost))
