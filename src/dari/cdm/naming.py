"""How a PostgreSQL CDM's names are read: its schema in any case, and lower-case views over UPPER-CASE tables.

DuckDB resolves names whatever their case, so only PostgreSQL needs this; the cohort engine's Ibis tables get
lower-case columns in `dari.cohort.backend.cdm_table` on both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dari.cdm.schema import quote_ident

if TYPE_CHECKING:
    import psycopg


def existing_schema(con: psycopg.Connection[tuple[Any, ...]], schema: str) -> str:
    """The schema as the server spells it: exact, else the one name that matches ignoring case (`?schema=CDM`)."""
    names = [str(r[0]) for r in con.execute("SELECT nspname FROM pg_namespace").fetchall()]
    if schema in names:
        return schema
    folded = [n for n in names if n.lower() == schema.lower()]
    return folded[0] if len(folded) == 1 else schema


def lower_case_views(con: psycopg.Connection[tuple[Any, ...]], schema: str) -> None:
    """Session-local lower-case views over tables whose names or columns are not lower case.

    PostgreSQL folds unquoted names to lower case, so a CDM created with quoted UPPER-CASE names (SQL Server and
    Oracle ETLs, OHDSI's Eunomia) is unreadable to dari's SQL. A temporary view lives in pg_temp, which
    PostgreSQL searches before the schema, so `person` then means the view; nothing in the CDM changes.
    """
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
        "ORDER BY table_name, ordinal_position",
        [schema],
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(str(table), []).append(str(column))
    for table, columns in tables.items():
        low = table.lower()
        lowered = [c.lower() for c in columns]
        if (
            (table == low and lowered == columns)
            or (table != low and low in tables)
            or len(set(lowered)) < len(lowered)
        ):
            continue  # already lower case, or a lower-case twin exists, or columns differ only in case
        select = ", ".join(f"{quote_ident(c)} AS {quote_ident(c.lower())}" for c in columns)
        con.execute(
            f"CREATE TEMPORARY VIEW {quote_ident(low)} AS SELECT {select} "
            f"FROM {quote_ident(schema)}.{quote_ident(table)}"
        )
