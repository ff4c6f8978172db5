"""Look-up tables (e.g. a life table by age and sex) read from CSV, called in expressions like functions.

`mr = "life(age, sex)"` with `[lookups.life] file = "life_table.csv", keys = ["age", "sex"], bin = ["age"]` returns
the `value` column of the row whose keys match: a binned key takes the row with the largest key ≤ the argument
(an age band starting at 35 covers 35 ≤ age < 45), another key must match exactly. Vectorised over cycles and PSA
iterations; an argument outside the table is an error naming the table and the value.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from dari.econ.expr import Array, ExpressionError
from dari.econ.spec import Lookup
from dari.errors import InputError


def read_rows(lookup: Lookup, name: str, model_file: str) -> list[list[float]]:
    """The table's rows as [key..., value] from its CSV (relative to the model file); errors name file, row, column."""
    assert lookup.file is not None
    path = Path(lookup.file)
    if not path.is_absolute():
        path = Path(model_file).parent / path
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read look-up table {name!r}: {exc.strerror}", file=file) from None
    reader = csv.DictReader(text.splitlines())
    wanted = [*lookup.keys, lookup.value]
    missing = [c for c in wanted if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"look-up table {name!r} needs columns {missing}", file=file)
    rows: list[list[float]] = []
    for row_no, row in enumerate(reader, start=2):
        values = []
        for column in wanted:
            try:
                v = float(row[column])
            except (TypeError, ValueError):
                raise InputError(f"not a number: {row[column]!r}", file=file, row=row_no, column=column) from None
            if not math.isfinite(v):
                raise InputError(f"must be finite: {row[column]!r}", file=file, row=row_no, column=column)
            values.append(v)
        rows.append(values)
    if not rows:
        raise InputError(f"look-up table {name!r} has no rows", file=file)
    return rows


class LookupTable:
    """A complete grid over the keys' distinct values; calling it looks the arguments up elementwise."""

    def __init__(self, name: str, lookup: Lookup) -> None:
        assert lookup.rows is not None
        data = np.asarray(lookup.rows, dtype=float)
        k = len(lookup.keys)
        if data.ndim != 2 or data.shape[1] != k + 1:
            raise ValueError(f"look-up table {name!r}: each row needs {k} keys and a value")
        self.name = name
        self.keys = lookup.keys
        self.binned = [key in lookup.bin for key in lookup.keys]
        self.levels = [np.unique(data[:, i]) for i in range(k)]
        grid = np.full([len(levels) for levels in self.levels], np.nan)
        index = tuple(np.searchsorted(self.levels[i], data[:, i]) for i in range(k))
        if len(set(zip(*(ix.tolist() for ix in index), strict=True))) != len(data):
            raise ValueError(f"look-up table {name!r} has a repeated key combination")
        grid[index] = data[:, k]
        if np.isnan(grid).any():
            at = [float(self.levels[i][j]) for i, j in enumerate(np.argwhere(np.isnan(grid))[0])]
            raise ValueError(f"look-up table {name!r} has no row for {dict(zip(self.keys, at, strict=True))}")
        self.grid = grid

    def __call__(self, *args: Any) -> Array:
        """The value for each combination of the (broadcast) arguments."""
        if len(args) != len(self.keys):
            raise ExpressionError(f"{self.name}() takes {len(self.keys)} arguments ({', '.join(self.keys)})")
        arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in args))
        index = []
        for key, levels, binned, x in zip(self.keys, self.levels, self.binned, arrays, strict=True):
            if binned:
                i = np.searchsorted(levels, x + 1e-9, side="right") - 1
                if (i < 0).any():
                    raise ExpressionError(f"{self.name}(): {key} = {float(x[i < 0].flat[0]):g} is below the table")
            else:
                i = np.clip(np.searchsorted(levels, x - 1e-9), 0, len(levels) - 1)
                off = np.abs(levels[i] - x) > 1e-9
                if off.any():
                    raise ExpressionError(f"{self.name}(): no row with {key} = {float(x[off].flat[0]):g}")
            index.append(i)
        return np.asarray(self.grid[tuple(index)], dtype=float)
