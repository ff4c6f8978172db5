"""Where a site's CDM lives: a DuckDB file (default) or a schema on a PostgreSQL server, behind one interface."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import duckdb
import pyarrow as pa

from dari.cdm.schema import Dialect, cdm_tables, ddl, quote_ident
from dari.errors import StoreError

if TYPE_CHECKING:  # psycopg loads only for a PostgreSQL store (site nodes on DuckDB, e.g. Ray workers, skip it)
    import psycopg

SITE_CDM_FILE = "cdm.duckdb"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class CdmStore(Protocol):
    """A connection to one OMOP CDM database; SQL is written once for both dialects."""

    dialect: Dialect
    label: str

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return all rows."""
        ...

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement that returns nothing."""
        ...

    def table_columns(self) -> dict[str, set[str]]:
        """Lower-case table name to its lower-case column names, for the tables that exist."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


@dataclass
class DuckDbStore:
    """A CDM in a DuckDB file (or in memory, for tests)."""

    con: duckdb.DuckDBPyConnection
    label: str
    dialect: Dialect = "duckdb"

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return all rows."""
        return self.con.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement that returns nothing."""
        self.con.execute(sql, params)

    def table_columns(self) -> dict[str, set[str]]:
        """Lower-case table name to its lower-case column names, in the main schema."""
        rows = self.con.execute(
            "SELECT lower(table_name), lower(column_name) FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        ).fetchall()
        out: dict[str, set[str]] = {}
        for table, column in rows:
            out.setdefault(table, set()).add(column)
        return out

    def close(self) -> None:
        """Release the connection."""
        self.con.close()


@dataclass
class PostgresStore:
    """A CDM in one schema of a PostgreSQL database."""

    con: psycopg.Connection[tuple[Any, ...]]
    schema: str
    label: str
    dialect: Dialect = "postgresql"

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return all rows."""
        with self.con.cursor() as cur:
            cur.execute(_pg_placeholders(sql, params), params)
            return cur.fetchall()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement that returns nothing."""
        with self.con.cursor() as cur:
            cur.execute(_pg_placeholders(sql, params), params)

    def table_columns(self) -> dict[str, set[str]]:
        """Lower-case table name to its lower-case column names, in this store's schema."""
        rows = self.query(
            "SELECT lower(table_name), lower(column_name) FROM information_schema.columns WHERE table_schema = ?",
            [self.schema],
        )
        out: dict[str, set[str]] = {}
        for table, column in rows:
            out.setdefault(table, set()).add(column)
        return out

    def close(self) -> None:
        """Release the connection."""
        self.con.close()


def _pg_placeholders(sql: str, params: Sequence[Any] | None) -> str:
    # dari writes `?` placeholders (DuckDB's); psycopg wants `%s`, and with parameters a literal % must be
    # doubled. Without parameters psycopg sends the text as it is, so it must stay untouched.
    if params is None:
        return sql
    return sql.replace("%", "%%").replace("?", "%s")


def is_postgres_url(target: str) -> bool:
    """Whether a CLI target names a PostgreSQL server rather than a path."""
    return target.startswith(("postgresql://", "postgres://"))


def split_postgres_url(url: str) -> tuple[str, str]:
    """Split `postgresql://…/db?schema=cdm` into a libpq URL and the CDM schema (default `cdm`)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), "cdm")
    if not _SCHEMA_NAME.match(schema):
        raise StoreError(f"schema must be an SQL identifier (letters, digits, _), got {schema!r}")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), schema


def _redact(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def resolve_duckdb_path(target: str | Path) -> Path:
    """A site folder means its `cdm.duckdb`; anything else is taken as the DuckDB file itself."""
    path = Path(target)
    return path / SITE_CDM_FILE if path.is_dir() else path


def open_store(target: str | Path, *, read_only: bool = True) -> CdmStore:
    """Open a CDM: a site folder, a DuckDB file, or `postgresql://user@host/db?schema=NAME`."""
    if isinstance(target, str) and is_postgres_url(target):
        import psycopg

        libpq_url, schema = split_postgres_url(target)
        try:
            con = psycopg.connect(libpq_url, autocommit=True)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {_redact(target)}: {exc}") from exc
        from dari.cdm.naming import existing_schema, lower_case_views

        schema = existing_schema(con, schema)
        con.execute(f"SET search_path TO {quote_ident(schema)}")
        lower_case_views(con, schema)
        return PostgresStore(con=con, schema=schema, label=f"{_redact(target)} (schema {schema})")
    path = resolve_duckdb_path(target)
    if read_only and not path.is_file():
        raise StoreError(f"no CDM database at {path}")
    try:
        duck = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise StoreError(f"cannot open DuckDB file {path}: {exc}") from exc
    return DuckDbStore(con=duck, label=str(path))


def create_cdm_schema(con: duckdb.DuckDBPyConnection, *, primary_keys: bool = False) -> None:
    """Create every CDM v5.4 table in a fresh DuckDB database (without primary keys unless asked)."""
    for statement in ddl("duckdb", primary_keys=primary_keys):
        con.execute(statement)


def _arrow_batches(con: duckdb.DuckDBPyConnection, table: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    # Named and aliased in lower case: DuckDB matches names whatever their case, so an UPPER-CASE source copies too.
    select = ", ".join(f"{quote_ident(c)} AS {quote_ident(c)}" for c in cdm_tables()[table].column_names)
    yield from con.sql(f"SELECT {select} FROM {quote_ident(table)}").to_arrow_reader(batch_rows)


def _require_source_columns(src: duckdb.DuckDBPyConnection, source: Path) -> None:
    have: dict[str, set[str]] = {}
    for table, column in src.execute(
        "SELECT lower(table_name), lower(column_name) FROM information_schema.columns"
    ).fetchall():
        have.setdefault(table, set()).add(column)
    for table in cdm_tables().values():
        if table.name not in have:
            raise StoreError(f"{source}: no table {table.name} (the copy needs every CDM v5.4 table)")
        missing = [c for c in table.column_names if c not in have[table.name]]
        if missing:
            raise StoreError(f"{source}: table {table.name} has no column {', '.join(missing)} (CDM v5.4)")


@contextmanager
def _pg_transaction(url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    import psycopg

    try:
        con = psycopg.connect(url)
    except psycopg.OperationalError as exc:
        raise StoreError(f"cannot connect to PostgreSQL at {_redact(url)}: {exc}") from exc
    try:
        with con.transaction():
            yield con
    finally:
        con.close()


def copy_duckdb_to_postgres(source: Path, target_url: str, *, batch_rows: int = 200_000) -> dict[str, int]:
    """Copy a DuckDB CDM into a PostgreSQL schema in one transaction; the old schema is replaced only on success.

    Rows stream through COPY in Arrow batches, so a CDM larger than memory moves in bounded memory.
    Returns rows copied per table.
    """
    import psycopg
    import pyarrow.csv as pacsv

    libpq_url, schema = split_postgres_url(target_url)
    staging = f"{schema}_loading"[:63]
    counts: dict[str, int] = {}
    src = duckdb.connect(str(source), read_only=True)
    try:
        _require_source_columns(src, source)
        with _pg_transaction(libpq_url) as con:
            con.execute(f"DROP SCHEMA IF EXISTS {quote_ident(staging)} CASCADE")
            con.execute(f"CREATE SCHEMA {quote_ident(staging)}")
            for statement in ddl("postgresql", staging):
                con.execute(statement)
            for table in cdm_tables().values():
                cols = ", ".join(quote_ident(c) for c in table.column_names)
                copy_sql = (
                    f"COPY {quote_ident(staging)}.{quote_ident(table.name)} ({cols}) FROM STDIN WITH (FORMAT csv)"
                )
                n = 0
                with con.cursor() as cur, cur.copy(copy_sql) as copy:
                    for batch in _arrow_batches(src, table.name, batch_rows):
                        buf = io.BytesIO()
                        pacsv.write_csv(
                            batch.select(list(table.column_names)),
                            buf,
                            pacsv.WriteOptions(include_header=False),
                        )
                        copy.write(buf.getvalue())
                        n += batch.num_rows
                counts[table.name] = n
            con.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
            con.execute(f"ALTER SCHEMA {quote_ident(staging)} RENAME TO {quote_ident(schema)}")
        # Fresh tables carry no planner statistics: PostgreSQL then guesses one row per table and picks plans that
        # ran a cohort query for over 14 minutes instead of 3 s. ANALYZE cannot run inside the swap's transaction.
        with psycopg.connect(libpq_url, autocommit=True) as con:
            for name in counts:
                con.execute(f"ANALYZE {quote_ident(schema)}.{quote_ident(name)}")
    finally:
        src.close()
    return counts
