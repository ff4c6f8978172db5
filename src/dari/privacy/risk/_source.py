"""Resolve a risk input (Arrow table, DuckDB relation or table name) to a named view on a DuckDB connection."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import duckdb
import pyarrow as pa

from dari.errors import InputError

TableLike: TypeAlias = "pa.Table | duckdb.DuckDBPyRelation | str"
# NULL cannot be a hash-join key, so generalisation maps key values through this sentinel instead
NULL_KEY = "\x00<NULL>"

_names = itertools.count()


def quote(name: str) -> str:
    """Quote an SQL identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def key_expr(column: str, alias: str = "") -> str:
    """SQL expression turning a column into a non-NULL VARCHAR join key."""
    ref = f"{alias}.{quote(column)}" if alias else quote(column)
    return f"coalesce(CAST({ref} AS VARCHAR), '{NULL_KEY}')"


def temp_name(prefix: str) -> str:
    """A fresh identifier for a view or temporary table owned by this package."""
    return f"__dari_risk_{prefix}_{next(_names)}"


@dataclass(frozen=True)
class Source:
    """A table registered on a connection, with its column types and row count."""

    con: duckdb.DuckDBPyConnection
    name: str
    types: dict[str, str]
    rows: int
    owned: bool = False

    def close(self) -> None:
        """Drop the view this package registered for the input, if any (the caller's tables are left alone)."""
        if self.owned:
            self.con.execute(f"DROP VIEW IF EXISTS {self.ref}")

    @property
    def ref(self) -> str:
        """The quoted name to use in FROM clauses."""
        return quote(self.name)


def open_source(table: TableLike, con: duckdb.DuckDBPyConnection | None, *, what: str = "table") -> Source:
    """Register the input on a connection (a fresh in-memory one for Arrow) and describe it."""
    owned = not isinstance(table, str)
    if isinstance(table, pa.Table):
        con = con if con is not None else duckdb.connect()
        name = temp_name("src")
        con.register(name, table)
    elif isinstance(table, duckdb.DuckDBPyRelation):
        if con is None:
            raise InputError(f"{what}: a DuckDB relation needs con=, the connection it was created on")
        name = temp_name("rel")
        table.create_view(name)
    elif isinstance(table, str):
        if con is None:
            raise InputError(f"{what}: a table name needs con=, the DuckDB connection that holds it")
        name = table
    else:
        raise InputError(f"{what}: expected a pyarrow.Table, DuckDB relation or table name, got {type(table).__name__}")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {quote(name)}").fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{what}: cannot read {name!r}: {exc}") from exc
    types = {str(row[0]): str(row[1]) for row in described}
    rows = int(con.execute(f"SELECT count(*) FROM {quote(name)}").fetchall()[0][0])
    return Source(con, name, types, rows, owned)


def require_columns(source: Source, columns: Sequence[str], *, what: str = "table") -> None:
    """Raise InputError naming the first column the source lacks, or if the source is empty."""
    for column in columns:
        if column not in source.types:
            raise InputError(f"{what} has no such column (has: {', '.join(source.types)})", column=column)
    if source.rows == 0:
        raise InputError(f"{what} is empty: risk is undefined without records")


def check_quasi_identifiers(quasi_identifiers: Sequence[str]) -> list[str]:
    """Validate the declared quasi-identifiers: at least one, no duplicates."""
    qis = list(quasi_identifiers)
    if not qis:
        raise InputError("quasi_identifiers: declare at least one quasi-identifier column")
    if len(set(qis)) != len(qis):
        raise InputError("quasi_identifiers: a column is declared twice")
    return qis
