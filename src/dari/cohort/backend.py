"""An Ibis backend over a site's open CDM store, so one cohort expression runs on DuckDB and PostgreSQL alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import ibis  # type: ignore[import-untyped]
import ibis.expr.types as ir  # type: ignore[import-untyped]
from ibis.backends.sql import SQLBackend  # type: ignore[import-untyped]

from dari.cdm.store import CdmStore, DuckDbStore, PostgresStore
from dari.errors import StoreError


@contextmanager
def ibis_session(store: CdmStore) -> Iterator[SQLBackend]:
    """Ibis over the store's connection, without disturbing it.

    DuckDB: Ibis changes session settings when it adopts a connection (TimeZone=UTC,
    python_enable_replacements=false), so it gets a cursor, which DuckDB gives its own session (and its own
    temporary tables) over the same database; the cursor is closed on exit. PostgreSQL: Ibis adopts the store's
    psycopg connection (it sets the session time zone to UTC, harmless for the date arithmetic used here) and
    finds tables through the search_path the store set.
    """
    if isinstance(store, DuckDbStore):
        cursor = store.con.cursor()
        try:
            yield ibis.duckdb.from_connection(cursor)
        finally:
            cursor.close()
    elif isinstance(store, PostgresStore):
        yield ibis.postgres.from_connection(store.con)
    else:
        raise StoreError(f"cohorts run on DuckDB or PostgreSQL stores, got {type(store).__name__}")


def cdm_table(backend: SQLBackend, name: str) -> ir.Table:
    """A CDM table of the backend's current schema, with lower-case column names whatever the database holds.

    OHDSI's own tools (Eunomia, many ETLs through SqlRender) create UPPER-CASE columns; DuckDB's SQL ignores
    case but Ibis does not, and PostgreSQL keeps quoted upper-case names. Every cohort query reads tables
    through here, so the case of a CDM's names is handled once. A missing table is a StoreError naming it.
    """
    view = _session_view(backend, name)
    if view is not None:
        return view
    try:
        table = backend.table(name)
    except Exception as exc:  # Ibis raises backend-specific types for a missing table
        actual = next((t for t in backend.list_tables() if t.lower() == name and t != name), None)
        if actual is None:
            raise StoreError(f"the CDM has no {name} table ({type(exc).__name__})") from exc
        table = backend.table(actual)
    lowered = [c.lower() for c in table.columns]
    if len(set(lowered)) != len(lowered):
        raise StoreError(f"table {name} has columns that differ only in case; rename them before use")
    if lowered != list(table.columns):
        table = table.rename({low: col for low, col in zip(lowered, table.columns, strict=True) if low != col})
    return table


def _session_view(backend: SQLBackend, name: str) -> ir.Table | None:
    # On PostgreSQL the store may have put a lower-case view of an UPPER-CASE table in pg_temp (see
    # dari.cdm.store); Ibis would merge its columns with the table's, so the view is asked for by its schema.
    temp = getattr(backend, "_session_temp_db", None) if backend.name == "postgres" else None
    if temp is None:
        return None
    try:
        return backend.table(name, database=temp)
    except Exception:  # no such view: the table is read as it is
        return None


def require_columns(table: ir.Table, name: str, columns: Iterable[str]) -> None:
    """StoreError naming the table and every column the query needs that the CDM's table lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise StoreError(f"table {name} has no column {', '.join(missing)} (an OMOP CDM v5.3/v5.4 field)")


@contextmanager
def materialised(backend: SQLBackend, expr: ir.Table, role: str) -> Iterator[ir.Table]:
    """The expression computed once into a temporary table (dropped on exit), so later queries reuse it.

    Temporary tables work on a read-only DuckDB file (DuckDB keeps them in memory, in the cursor's own session)
    and on PostgreSQL. Ibis' `create_table` is the call that breaks with sqlglot >= 30.18 (ibis#12124).
    """
    name = f"dari_cohort_{role}_{uuid.uuid4().hex[:12]}"
    table = backend.create_table(name, expr, temp=True)
    if backend.name == "postgres":
        # A new table has no planner statistics; without them PostgreSQL guesses one row and nests loops.
        with backend.con.cursor() as cursor:
            cursor.execute(f'ANALYZE "{name}"')
    try:
        yield table
    finally:
        backend.drop_table(name, force=True)
