"""Enforce k-anonymity by generalisation (over declared hierarchies) and suppression of small classes.

The records never leave DuckDB one by one: each QI's *distinct* values are generalised in Python through its
hierarchy, the table is reduced to the counts of its distinct QI combinations (one GROUP BY), the lattice is
searched over those counts in numpy (``lattice``), and the release is produced by joining the chosen labels
back and dropping records whose generalised class is smaller than k (a window count). Suppressed records are
removed from the release, not masked, so the released table itself is k-anonymous; row order is not kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa

from dari.errors import InputError
from dari.privacy.risk._source import (
    NULL_KEY,
    Source,
    TableLike,
    check_quasi_identifiers,
    key_expr,
    open_source,
    quote,
    require_columns,
    temp_name,
)
from dari.privacy.risk.hierarchy import Hierarchy, Labels
from dari.privacy.risk.lattice import Evaluation, Frequencies, search
from dari.privacy.risk.metrics import assess_source
from dari.privacy.risk.models import Loss, Policy, QuasiIdentifierLevel, ReviewReport, RiskReport


@dataclass(frozen=True)
class Anonymised:
    """A k-anonymous release: the table, chosen levels, suppressed count, loss and risk before/after."""

    table: pa.Table
    levels: dict[str, int]
    suppressed: int
    loss: Loss
    before: RiskReport
    after: RiskReport
    review: ReviewReport


def enforce_k(
    table: TableLike,
    quasi_identifiers: Mapping[str, Hierarchy],
    k: int,
    max_suppression: float,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
    sensitive: str | None = None,
    threshold: float | None = None,
    metric: Literal["precision", "discernibility"] = "precision",
) -> Anonymised:
    """Generalise and suppress to reach k-anonymity with at most max_suppression of records suppressed."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k must be an integer ≥ 1, got {k!r}")
    if not 0.0 <= max_suppression <= 1.0:
        raise InputError(f"max_suppression must lie in [0, 1], got {max_suppression!r}")
    risk_threshold = 1.0 / k if threshold is None else threshold
    if not 0.0 < risk_threshold <= 1.0:
        raise InputError(f"threshold must lie in (0, 1], got {threshold!r}")
    qis = check_quasi_identifiers(list(quasi_identifiers))
    for column, hierarchy in quasi_identifiers.items():
        if hierarchy.height < 1:
            raise InputError(f"hierarchy {hierarchy.name!r} has no generalisation level", column=column)
    source = open_source(table, con)
    try:
        require_columns(source, [*qis, *([sensitive] if sensitive else [])])
        return _enforce(source, quasi_identifiers, qis, k, max_suppression, sensitive, risk_threshold, metric)
    finally:
        source.close()


def _enforce(
    source: Source,
    quasi_identifiers: Mapping[str, Hierarchy],
    qis: list[str],
    k: int,
    max_suppression: float,
    sensitive: str | None,
    risk_threshold: float,
    metric: Literal["precision", "discernibility"],
) -> Anonymised:
    labels = {q: _labels(source, q, quasi_identifiers[q]) for q in qis}
    freq = _frequencies(source, qis, labels)
    heights = [quasi_identifiers[q].height for q in qis]
    best, evaluated = search(freq, heights, k, int(np.floor(max_suppression * source.rows + 1e-9)), metric)
    if best is None:
        raise InputError(
            f"no generalisation reaches k={k} with at most {max_suppression:.1%} of {source.rows} records suppressed"
        )
    if best.suppressed == source.rows:
        raise InputError(f"reaching k={k} would suppress every one of the {source.rows} records")
    released = _release(source, qis, labels, best.node, k)
    before = assess_source(source, qis, sensitive=sensitive, population=None, threshold=risk_threshold, t_distance=None)
    out = open_source(released, source.con)
    try:
        after = assess_source(out, qis, sensitive=sensitive, population=None, threshold=risk_threshold, t_distance=None)
    finally:
        out.close()
    loss = _loss(best, source.rows)
    levels = dict(zip(qis, best.node, strict=True))
    review = ReviewReport(
        policy=Policy(k=k, max_suppression=max_suppression, threshold=risk_threshold, metric=metric),
        quasi_identifiers=[
            QuasiIdentifierLevel(
                column=q,
                hierarchy=quasi_identifiers[q].name,
                level=levels[q],
                max_level=quasi_identifiers[q].height,
                level_ko=quasi_identifiers[q].level_name(levels[q], "ko"),
                level_en=quasi_identifiers[q].level_name(levels[q], "en"),
            )
            for q in qis
        ],
        records_in=source.rows,
        records_out=released.num_rows,
        suppressed=best.suppressed,
        loss=loss,
        before=before,
        after=after,
        nodes_evaluated=evaluated,
        nodes_total=int(np.prod([h + 1 for h in heights])),
    )
    return Anonymised(released, levels, best.suppressed, loss, before, after, review)


def _loss(best: Evaluation, n: int) -> Loss:
    return Loss(
        precision=best.precision_loss,
        discernibility=best.discernibility,
        discernibility_normalised=best.discernibility / (n * n),
        suppressed_share=best.suppressed / n,
    )


def _labels(source: Source, column: str, hierarchy: Hierarchy) -> tuple[list[str], list[Labels]]:
    """Distinct join keys of a column and the labels of each at every level."""
    rows = source.con.execute(f"SELECT DISTINCT CAST({quote(column)} AS VARCHAR) FROM {source.ref}").fetchall()
    values: list[str | None] = [r[0] for r in rows]
    keys = [NULL_KEY if v is None else v for v in values]
    return keys, hierarchy.generalise(values, column=column)


def _frequencies(source: Source, qis: list[str], labels: dict[str, tuple[list[str], list[Labels]]]) -> Frequencies:
    maps: list[list[np.ndarray]] = []
    cards: list[list[int]] = []
    joins, selects = [], []
    con = source.con
    names = []
    for i, q in enumerate(qis):
        keys, chains = labels[q]
        per_level, per_card = [], []
        for level in range(len(chains[0])):
            # the code of a label is its first position; None is a label like any other
            seen: dict[str | None, int] = {}
            codes = np.fromiter((seen.setdefault(c[level], len(seen)) for c in chains), np.int64, len(chains))
            per_level.append(codes)
            per_card.append(len(seen))
        maps.append(per_level)
        cards.append(per_card)
        name = temp_name("keys")
        names.append(name)
        con.register(name, pa.table({"v": pa.array(keys, pa.string()), "c": pa.array(range(len(keys)), pa.int64())}))
        joins.append(f"JOIN {name} m{i} ON {key_expr(q, 's')} = m{i}.v")
        selects.append(f"m{i}.c AS c{i}")
    try:
        result = con.execute(
            f"SELECT {', '.join(selects)}, count(*) AS n FROM {source.ref} s {' '.join(joins)} GROUP BY ALL"
        ).fetchnumpy()
    finally:
        for name in names:
            con.unregister(name)
    base = [np.asarray(result[f"c{i}"], dtype=np.int64) for i in range(len(qis))]
    return Frequencies(base, np.asarray(result["n"], dtype=np.int64), maps, cards)


def _release(
    source: Source, qis: list[str], labels: dict[str, tuple[list[str], list[Labels]]], node: tuple[int, ...], k: int
) -> pa.Table:
    con, names, joins, replaces = source.con, [], [], []
    for i, (q, level) in enumerate(zip(qis, node, strict=True)):
        keys, chains = labels[q]
        name = temp_name("gen")
        names.append(name)
        generalised = pa.array([c[level] for c in chains], pa.string())
        con.register(name, pa.table({"v": pa.array(keys, pa.string()), "g": generalised}))
        joins.append(f"JOIN {name} m{i} ON {key_expr(q, 's')} = m{i}.v")
        replaces.append(f"m{i}.g AS {quote(q)}")
    partition = ", ".join(quote(q) for q in qis)
    try:
        return con.sql(
            f"WITH g AS (SELECT s.* REPLACE ({', '.join(replaces)}) FROM {source.ref} s {' '.join(joins)}), "
            f"c AS (SELECT *, count(*) OVER (PARTITION BY {partition}) AS __dari_n FROM g) "
            f"SELECT * EXCLUDE (__dari_n) FROM c WHERE __dari_n >= {k}"
        ).to_arrow_table()
    finally:
        for name in names:
            con.unregister(name)
