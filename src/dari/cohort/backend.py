"""An Ibis backend over a site's open CDM store, so one cohort expression runs on DuckDB and PostgreSQL alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
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
    """A CDM table of the backend's current schema; a missing table is a StoreError naming it."""
    try:
        return backend.table(name)
    except Exception as exc:  # Ibis raises backend-specific types for a missing table
        raise StoreError(f"the CDM has no {name} table ({type(exc).__name__}: {exc})") from exc


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
