"""Load a checked Athena download into a CDM: staging tables first, then one transaction swaps them in.

Order of work: every file is read and checked in a private work DuckDB (`athena_read`, `athena_checks`); only
then is the CDM opened for writing. The new tables are built beside the live ones (DuckDB: `_dari_vocab_*`
tables; PostgreSQL: a `<schema>_vocab_loading` schema) and a single transaction drops the old vocabulary tables
and puts the new ones in their place, after checking the row counts. A fault at any step rolls back, so the CDM
keeps its old vocabulary row for row. Other tables (clinical data, source_to_concept_map) are never touched.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb

from dari.cdm.schema import cdm_tables, create_table_sql, quote_ident
from dari.cdm.store import CdmStore, DuckDbStore, PostgresStore, open_store
from dari.errors import InputError, StoreError
from dari.vocab.athena_checks import check_references
from dari.vocab.athena_read import ATHENA_TABLES, AthenaRead, athena_file_name, read_download

_STAGING_PREFIX = "_dari_vocab_"
# The look-ups every dari command makes (mapping, descendants, synonyms) and OHDSI's index script also makes.
_PG_INDEXES = (
    ("concept", "concept_code"),
    ("concept_relationship", "concept_id_1"),
    ("concept_relationship", "concept_id_2"),
    ("concept_ancestor", "ancestor_concept_id"),
    ("concept_ancestor", "descendant_concept_id"),
    ("concept_synonym", "concept_id"),
    ("drug_strength", "drug_concept_id"),
)


@dataclass(frozen=True)
class VocabularyLoad:
    """The outcome of a load: rows per table now in the CDM, files absent, warnings."""

    source: str
    target: str
    rows: dict[str, int]
    absent: tuple[str, ...]
    warnings: tuple[str, ...]
    version: str | None = None  # Athena's release, the vocabulary_version of VOCABULARY.csv's 'None' row

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--format json`."""
        return {
            "source": self.source,
            "target": self.target,
            "version": self.version,
            "rows": self.rows,
            "absent": list(self.absent),
            "warnings": list(self.warnings),
        }

    def to_json(self) -> str:
        """The summary as one JSON object."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _columns(name: str) -> str:
    return ", ".join(quote_ident(c) for c in cdm_tables()[name].column_names)


def _duckdb_staging_sql(name: str) -> str:
    # NUMERIC in DuckDB is DECIMAL(18,3), which would round drug strengths such as 0.0625; DOUBLE keeps them.
    fields = cdm_tables()[name].fields
    cols = ", ".join(
        f"{quote_ident(f.name)} {'DOUBLE' if f.datatype.lower() == 'numeric' else f.sql_type('duckdb')}"
        f"{' NOT NULL' if f.required else ''}"
        for f in fields
    )
    return f"CREATE TABLE {quote_ident(_STAGING_PREFIX + name)} ({cols})"


def swap_into_duckdb(con: duckdb.DuckDBPyConnection, work: Path, expected: dict[str, int]) -> dict[str, int]:
    """Copy the work tables into staging tables of `con`, then swap them in one transaction."""
    try:
        con.execute(f"ATTACH {_sql_text(str(work))} AS dari_athena_work (READ_ONLY)")
    except duckdb.Error as exc:
        raise StoreError(f"vocabulary not loaded, CDM unchanged: {exc}") from None
    try:
        for name in ATHENA_TABLES:
            staging = quote_ident(_STAGING_PREFIX + name)
            con.execute(f"DROP TABLE IF EXISTS {staging}")  # left by a load that was killed
            con.execute(_duckdb_staging_sql(name))
            con.execute(
                f"INSERT INTO {staging} SELECT {_columns(name)} FROM dari_athena_work.athena_{name} ORDER BY _line"
            )
        con.execute("BEGIN TRANSACTION")
        try:
            for name in ATHENA_TABLES:
                con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
                con.execute(f"ALTER TABLE {quote_ident(_STAGING_PREFIX + name)} RENAME TO {quote_ident(name)}")
            rows = _verify(lambda sql: con.execute(sql).fetchall(), expected)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return rows
    except duckdb.Error as exc:
        raise StoreError(f"vocabulary not loaded, CDM unchanged: {exc}") from None
    finally:
        for name in ATHENA_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {quote_ident(_STAGING_PREFIX + name)}")
        con.execute("DETACH dari_athena_work")


def _verify(query: Any, expected: dict[str, int], prefix: str = "") -> dict[str, int]:
    rows: dict[str, int] = {}
    for name in ATHENA_TABLES:
        got = int(query(f"SELECT count(*) FROM {prefix}{quote_ident(name)}")[0][0])
        if got != expected[name]:
            raise StoreError(f"{name}: {got} rows after the swap where {expected[name]} were read; rolled back")
        rows[name] = got
    return rows


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def swap_into_postgres(
    store: PostgresStore, work: Path, expected: dict[str, int], batch_rows: int = 200_000
) -> dict[str, int]:
    """Build the tables in a staging schema by COPY and move them into the store's schema, all in one transaction."""
    import psycopg
    import pyarrow.csv as pacsv

    schema = store.schema
    staging = f"{schema}_vocab_loading"[:63]
    src = duckdb.connect(str(work), read_only=True)
    con = store.con
    try:
        with con.transaction():
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
            con.execute(f"DROP SCHEMA IF EXISTS {quote_ident(staging)} CASCADE")
            con.execute(f"CREATE SCHEMA {quote_ident(staging)}")
            for name in ATHENA_TABLES:
                table = cdm_tables()[name]
                con.execute(create_table_sql(table, "postgresql", staging))
                copy_sql = (
                    f"COPY {quote_ident(staging)}.{quote_ident(name)} ({_columns(name)}) FROM STDIN WITH (FORMAT csv)"
                )
                reader = src.sql(f"SELECT {_columns(name)} FROM athena_{name} ORDER BY _line").to_arrow_reader(
                    batch_rows
                )
                with con.cursor() as cur, cur.copy(copy_sql) as copy:
                    for batch in reader:
                        buf = io.BytesIO()
                        pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=False))
                        copy.write(buf.getvalue())
            for name, column in _PG_INDEXES:
                con.execute(f"CREATE INDEX ON {quote_ident(staging)}.{quote_ident(name)} ({quote_ident(column)})")
            for name in ATHENA_TABLES:
                con.execute(f"DROP TABLE IF EXISTS {quote_ident(schema)}.{quote_ident(name)}")
                con.execute(f"ALTER TABLE {quote_ident(staging)}.{quote_ident(name)} SET SCHEMA {quote_ident(schema)}")
            con.execute(f"DROP SCHEMA {quote_ident(staging)}")
            rows = _verify(lambda sql: con.execute(sql).fetchall(), expected, f"{quote_ident(schema)}.")
    except psycopg.Error as exc:
        raise StoreError(f"vocabulary not loaded, CDM unchanged: {exc}") from None
    finally:
        src.close()
    # Fresh tables carry no planner statistics; ANALYZE cannot run inside the swap's transaction block.
    for name in ATHENA_TABLES:
        con.execute(f"ANALYZE {quote_ident(schema)}.{quote_ident(name)}")
    return rows


def read_and_check(work_con: duckdb.DuckDBPyConnection, directory: Path, *, strict: bool = False) -> AthenaRead:
    """Read every file of the download and run the cross-file checks; nothing outside `work_con` changes."""
    read = read_download(work_con, directory)
    read.warnings.extend(check_references(work_con, read.files, strict=strict))
    return read


def _unpack(archive: Path, into: Path) -> None:
    """Extract the Athena files of a zipped download, flattened by name (no path in the archive is trusted)."""
    wanted = {athena_file_name(n).upper() for n in ATHENA_TABLES}
    try:
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                base = PurePosixPath(info.filename).name
                if not info.is_dir() and base.upper() in wanted:
                    with zipped.open(info) as src, (into / base).open("wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"cannot unpack the zipped download: {exc}", file=str(archive)) from None


def _read_source(work_con: duckdb.DuckDBPyConnection, source: Path, tmp: Path, strict: bool) -> AthenaRead:
    """Read a download given as a folder or as Athena's zip; faults in a zip name `archive.zip:FILE.csv`."""
    if source.is_dir() or not source.exists():
        return read_and_check(work_con, source, strict=strict)
    if not zipfile.is_zipfile(source):
        raise InputError("neither a folder nor a zip archive (a truncated zip has no directory)", file=str(source))
    unpacked = tmp / "download"
    unpacked.mkdir()
    _unpack(source, unpacked)
    try:
        return read_and_check(work_con, unpacked, strict=strict)
    except InputError as exc:
        # the temporary folder means nothing to the user: name the archive and the member instead
        located = str(InputError("", file=exc.file, row=exc.row, column=exc.column))
        message = str(exc)[len(located) :] if str(exc).startswith(located) else str(exc)
        member = f"{source}:{Path(exc.file).name}" if exc.file else str(source)
        raise InputError(message, file=member, row=exc.row, column=exc.column) from None


def _swap(
    store: CdmStore | duckdb.DuckDBPyConnection, work: Path, expected: dict[str, int]
) -> tuple[dict[str, int], str]:
    if isinstance(store, duckdb.DuckDBPyConnection):
        return swap_into_duckdb(store, work, expected), "DuckDB connection"
    if isinstance(store, DuckDbStore):
        return swap_into_duckdb(store.con, work, expected), store.label
    if isinstance(store, PostgresStore):
        return swap_into_postgres(store, work, expected), store.label
    raise StoreError(f"cannot load a vocabulary into {store.label}")


def load_vocabulary_into(
    target: str | Path | CdmStore | duckdb.DuckDBPyConnection,
    directory: Path,
    *,
    strict: bool = False,
    work_dir: Path | None = None,
) -> VocabularyLoad:
    """Replace the vocabulary of a CDM (site folder, DuckDB file, PostgreSQL URL, open store) with a download.

    A target given by name is opened for writing only after the whole download has passed its checks.
    """
    directory = Path(directory)
    with tempfile.TemporaryDirectory(prefix="dari-athena-", dir=work_dir) as tmp:
        work = Path(tmp) / "work.duckdb"
        work_con = duckdb.connect(str(work))
        try:
            read = _read_source(work_con, directory, Path(tmp), strict)
            found = work_con.execute(
                "SELECT vocabulary_version FROM athena_vocabulary WHERE vocabulary_id = 'None'"
            ).fetchone()
        finally:
            work_con.close()
        if isinstance(target, (str, Path)):
            store = open_store(target, read_only=False)
            try:
                rows, label = _swap(store, work, read.rows)
            finally:
                store.close()
        else:
            rows, label = _swap(target, work, read.rows)
    version = str(found[0]) if found and found[0] is not None else None
    return VocabularyLoad(str(directory), label, rows, tuple(read.absent), tuple(read.warnings), version)
