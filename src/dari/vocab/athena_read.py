"""Read an OHDSI Athena download into a work DuckDB, checking every row before anything touches a CDM.

Athena writes tab-separated files with a header line, no quoting (a name may hold a bare `"`), empty fields for
NULL and dates as YYYYMMDD. Each file is read line by line (one record per line, since nothing is quoted), split
on tabs inside DuckDB and checked column by column; the first fault raises `InputError` naming the file, the line
(header = line 1) and the column. Values are never echoed in messages, only keys (concept ids, vocabulary ids).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dari.cdm.schema import Field, Table, cdm_tables, quote_ident
from dari.errors import InputError

# The Athena tables, in load order. source_to_concept_map is the site's own table and stays out of a vocab load.
ATHENA_TABLES = (
    "concept",
    "vocabulary",
    "domain",
    "concept_class",
    "relationship",
    "concept_relationship",
    "concept_synonym",
    "concept_ancestor",
    "drug_strength",
)
# Without these the vocabulary cannot map a code or find a descendant; the others load empty when absent.
REQUIRED_FILES = frozenset({"concept", "vocabulary", "concept_relationship", "concept_ancestor"})
# Keys OMOP declares (single-column primary keys) or that joins rely on being unique.
UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "concept": ("concept_id",),
    "vocabulary": ("vocabulary_id",),
    "domain": ("domain_id",),
    "concept_class": ("concept_class_id",),
    "relationship": ("relationship_id",),
    "concept_relationship": ("concept_id_1", "concept_id_2", "relationship_id"),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
}
# Natural keys whose repeats are reported, not refused: repeated synonym rows are harmless to look-ups.
REPORTED_REPEATS: dict[str, tuple[str, ...]] = {
    "concept_synonym": ("concept_id", "concept_synonym_name", "language_concept_id"),
    "drug_strength": ("drug_concept_id", "ingredient_concept_id"),
}
# Coded one-character fields and the values the CDM allows (NULL always allowed where the field is optional).
ALLOWED_VALUES: dict[str, tuple[str, ...]] = {
    "standard_concept": ("S", "C"),
    "invalid_reason": ("D", "U"),
    "is_hierarchical": ("0", "1"),
    "defines_ancestry": ("0", "1"),
}
_VARCHAR = re.compile(r"varchar\((\d+)\)")
_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")


def athena_file_name(table: str) -> str:
    """The file name Athena uses for a CDM vocabulary table (`concept` → `CONCEPT.csv`)."""
    return f"{table.upper()}.csv"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class AthenaRead:
    """What was read: typed tables `athena_<name>` in the work database, row counts and warnings."""

    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _header(path: Path) -> list[str]:
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError as exc:
        raise InputError(f"cannot read Athena file: {exc.strerror}", file=str(path)) from None
    if not first.strip():
        raise InputError("file is empty: Athena files start with a header line", file=str(path), row=1)
    try:
        text = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InputError("header is not UTF-8", file=str(path), row=1) from None
    return [name.strip().lower() for name in text.split("\t")]


def _first(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[object, ...] | None:
    return con.execute(sql).fetchone()


def _checks(f: Field) -> list[tuple[str, str]]:
    """(SQL predicate that is true for a bad value, message) for one column of the text table."""
    col = quote_ident(f.name)
    base = f.datatype.lower()
    checks: list[tuple[str, str]] = []
    if f.required:
        checks.append((f"{col} IS NULL", "required value is empty"))
    if base == "integer":
        # TRY_CAST alone would accept '1.5' and ' 1'; the pattern keeps to digits, the cast to 32 bits
        # (an integral '123.0', as a database with DOUBLE ids re-exports it, is still the whole number 123)
        bad = f"NOT regexp_full_match({col}, '-?[0-9]+(\\.0+)?') OR TRY_CAST({col} AS INTEGER) IS NULL"
        checks.append((f"{col} IS NOT NULL AND ({bad})", "is not a whole number (32-bit)"))
    elif base == "numeric":
        checks.append((f"{col} IS NOT NULL AND TRY_CAST({col} AS DOUBLE) IS NULL", "is not a number"))
    elif base == "date":
        checks.append((f"{col} IS NOT NULL AND {_date(col)} IS NULL", "is not a date (YYYYMMDD)"))
    elif (m := _VARCHAR.fullmatch(base)) is not None:
        checks.append((f"length({col}) > {m.group(1)}", f"is longer than {m.group(1)} characters"))
    if f.name in ALLOWED_VALUES:
        allowed = ", ".join(_literal(v) for v in ALLOWED_VALUES[f.name])
        checks.append((f"{col} IS NOT NULL AND {col} NOT IN ({allowed})", f"must be one of {allowed} or empty"))
    return checks


def _date(col: str) -> str:
    # Athena writes YYYYMMDD; re-exports through a database often write ISO dates, so both are read.
    return (
        f"CAST(CASE WHEN regexp_full_match({col}, '[0-9]{{8}}') THEN try_strptime({col}, '%Y%m%d') "
        f"WHEN regexp_full_match({col}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') THEN try_strptime({col}, '%Y-%m-%d') "
        "END AS DATE)"
    )


def _typed(f: Field) -> str:
    col = quote_ident(f.name)
    base = f.datatype.lower()
    if base == "integer":
        return f"CAST({col} AS INTEGER) AS {col}"
    if base == "numeric":
        return f"CAST({col} AS DOUBLE) AS {col}"
    if base == "date":
        return f"{_date(col)} AS {col}"
    return f"{col}"


def read_table(con: duckdb.DuckDBPyConnection, path: Path, table: Table) -> tuple[int, list[str]]:
    """Read one Athena file into `athena_<table>` (typed, with its line as `_line`); returns rows and warnings."""
    header = _header(path)
    label = str(path)
    warnings: list[str] = []
    if len(header) == 1 and "," in header[0]:
        raise InputError("header is not tab-separated (Athena writes tabs; re-saved as CSV?)", file=label, row=1)
    for name in {h for h in header if header.count(h) > 1}:
        raise InputError("column appears twice in the header", file=label, row=1, column=name)
    for f in table.fields:
        if f.required and f.name not in header:
            raise InputError("Athena file lacks a required column", file=label, row=1, column=f.name)
    unknown = [h for h in header if h not in table.column_names]
    if unknown:
        warnings.append(f"{path.name}: columns not in the CDM ignored: {', '.join(unknown)}")
    raw, text, typed = (f"{prefix}_{table.name}" for prefix in ("raw", "text", "athena"))
    # One column per line: the delimiter is a control character Athena never writes, quoting is off.
    source = (
        f"read_csv({_literal(label)}, columns={{'line': 'VARCHAR'}}, delim='\\x01', quote='', escape='', "
        "header=true, auto_detect=false, strict_mode=false)"
    )
    try:
        con.execute(f"CREATE OR REPLACE TABLE {raw} AS SELECT rtrim(line, chr(13)) AS line FROM {source}")
    except duckdb.Error as exc:
        where = _CSV_LINE.search(str(exc))
        reason = "not UTF-8" if "unicode" in str(exc).lower() else "unreadable"
        raise InputError(f"file is {reason}", file=label, row=int(where.group(1)) if where else None) from None
    n = len(header)
    bad = _first(
        con,
        f"SELECT min(rowid) + 2, arg_min(len(string_split(line, chr(9))), rowid) FROM {raw} "
        f"WHERE line <> '' AND len(string_split(line, chr(9))) <> {n}",
    )
    if bad is not None and bad[0] is not None:
        raise InputError(
            f"row has {bad[1]} fields where the header has {n} (file truncated, or a tab inside a value?)",
            file=label,
            row=int(str(bad[0])),
        )
    present = [f for f in table.fields if f.name in header]
    parts = ", ".join(f"nullif(parts[{header.index(f.name) + 1}], '') AS {quote_ident(f.name)}" for f in present)
    con.execute(
        f"CREATE OR REPLACE TABLE {text} AS SELECT rowid + 2 AS _line, {parts} "
        # blank lines (a trailing empty line, say) hold no row; rowid still counts them, so line numbers stay true
        f"FROM (SELECT rowid, string_split(line, chr(9)) AS parts FROM {raw} WHERE line <> '')"
    )
    con.execute(f"DROP TABLE {raw}")
    checks = [(f.name, pred, msg) for f in present for pred, msg in _checks(f)]
    if checks:
        firsts = _first(
            con, "SELECT " + ", ".join(f"min(CASE WHEN {p} THEN _line END)" for _, p, _ in checks) + f" FROM {text}"
        )
        found = [
            (int(str(line)), col, msg)
            for (col, _, msg), line in zip(checks, firsts or (), strict=True)
            if line is not None
        ]
        if found:
            line, col, msg = min(found)
            raise InputError(msg, file=label, row=line, column=col)
    select = ", ".join(
        _typed(f) if f.name in header else f"CAST(NULL AS {_sql_type(f)}) AS {quote_ident(f.name)}"
        for f in table.fields
    )
    con.execute(f"CREATE OR REPLACE TABLE {typed} AS SELECT _line, {select} FROM {text}")
    con.execute(f"DROP TABLE {text}")
    _check_unique(con, table.name, label)
    if (repeat_key := REPORTED_REPEATS.get(table.name)) is not None:
        cols = ", ".join(quote_ident(k) for k in repeat_key)
        repeats = _first(con, f"SELECT count(*) - count(DISTINCT ({cols})) FROM {typed}")
        if repeats and repeats[0]:
            warnings.append(f"{path.name}: {repeats[0]} repeated rows of ({', '.join(repeat_key)}), loaded as given")
    count = _first(con, f"SELECT count(*) FROM {typed}")
    return int(str(count[0])) if count else 0, warnings


def _sql_type(f: Field) -> str:
    return "DOUBLE" if f.datatype.lower() == "numeric" else f.sql_type("duckdb")


def _check_unique(con: duckdb.DuckDBPyConnection, name: str, label: str) -> None:
    key = UNIQUE_KEYS.get(name)
    if key is None:
        return
    cols = ", ".join(quote_ident(k) for k in key)
    dup = _first(
        con,
        f"SELECT _line, first_line, {cols} FROM (SELECT _line, {cols}, "
        f"min(_line) OVER (PARTITION BY {cols}) AS first_line, "
        f"row_number() OVER (PARTITION BY {cols} ORDER BY _line) AS n FROM athena_{name}) "
        "WHERE n = 2 ORDER BY _line LIMIT 1",
    )
    if dup is not None:
        shown = ", ".join(f"{k} {v}" for k, v in zip(key, dup[2:], strict=True))
        raise InputError(
            f"duplicate key ({shown}) first seen on row {dup[1]}", file=label, row=int(str(dup[0])), column=key[0]
        )


def empty_table(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """An empty `athena_<table>` for a file the download lacks."""
    cols = ", ".join(f"{quote_ident(f.name)} {_sql_type(f)}" for f in table.fields)
    con.execute(f"CREATE OR REPLACE TABLE athena_{table.name} (_line BIGINT, {cols})")


def read_download(con: duckdb.DuckDBPyConnection, directory: Path) -> AthenaRead:
    """Read and check every Athena file of a download into the work database `con`."""
    if not directory.is_dir():
        raise InputError("Athena vocabulary folder not found", file=str(directory))
    result = AthenaRead()
    files = {p.name.upper(): p for p in directory.iterdir() if p.is_file()}
    for name in ATHENA_TABLES:
        path = files.get(athena_file_name(name).upper())
        table = cdm_tables()[name]
        if path is None:
            if name in REQUIRED_FILES:
                raise InputError("Athena download lacks a required file", file=str(directory / athena_file_name(name)))
            empty_table(con, table)
            result.absent.append(name)
            result.warnings.append(f"{athena_file_name(name)} absent: {name} loads empty")
            result.rows[name] = 0
            continue
        result.files[name] = str(path)
        rows, warnings = read_table(con, path, table)
        result.rows[name] = rows
        result.warnings.extend(warnings)
    return result
