"""Reading a site's extract into DuckDB as raw text tables, refusing bad input with its exact location."""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb

from dari.cdm.schema import quote_ident
from dari.errors import InputError
from dari.etl.encoding import read_header, refuse_nul, scan_file, transcode_to_utf8
from dari.etl.extract_spec import EXTRACT_FILES, ColumnType, FileSpec
from dari.etl.manifest import ExtractManifest, FileEntry

RAW_PREFIX = "src_"
_EXPECTED = {"int": "a whole number", "number": "a number"}


def _raw(name: str) -> str:
    return quote_ident(RAW_PREFIX + name)


def _check_header(path: Path, spec: FileSpec, header: list[str]) -> None:
    missing = [c for c in spec.columns if c not in header]
    if missing:
        raise InputError(
            f"missing column (expected {', '.join(spec.columns)})", file=str(path), row=1, column=missing[0]
        )
    extra = [c for c in header if c not in spec.columns]
    if extra:
        raise InputError(
            "unexpected column; the extract format does not know it", file=str(path), row=1, column=extra[0]
        )
    dupes = {c for c in header if header.count(c) > 1}
    if dupes:
        raise InputError("column appears twice", file=str(path), row=1, column=sorted(dupes)[0])


def _parse_expr(column: str, kind: ColumnType, manifest: ExtractManifest) -> str:
    col = quote_ident(column)
    if kind == "int":
        return f"TRY_CAST({col} AS BIGINT)"
    if kind == "number":
        return f"TRY_CAST({col} AS DOUBLE)"
    fmt = manifest.date_format if kind == "date" else manifest.datetime_format
    return f"TRY_STRPTIME({col}, '{fmt}')"


def _problems(spec: FileSpec, manifest: ExtractManifest) -> list[tuple[str, str, str]]:
    """(column, SQL condition that marks a bad row, message) for every rule of the file."""
    rules = [(c, f"{quote_ident(c)} IS NULL", "required value is empty") for c in spec.required]
    for column, kind in spec.types.items():
        expected = _EXPECTED.get(kind) or (
            f"a date as {manifest.date_format}" if kind == "date" else f"a date-time as {manifest.datetime_format}"
        )
        rules.append(
            (
                column,
                f"{quote_ident(column)} IS NOT NULL AND {_parse_expr(column, kind, manifest)} IS NULL",
                f"malformed value, expected {expected}",
            )
        )
    return rules


def _validate(con: duckdb.DuckDBPyConnection, path: Path, spec: FileSpec, manifest: ExtractManifest) -> int:
    """Check every rule in one scan; only when one fails, find its first row (values are never echoed)."""
    raw = _raw(spec.name)
    rules = _problems(spec, manifest)
    counts = ", ".join(f"count(*) FILTER (WHERE {cond})" for _, cond, _ in rules)
    key = quote_ident(spec.key) if spec.key else None
    distinct = f", count(DISTINCT {key})" if key else ""
    row = con.execute(f"SELECT count(*){distinct}{', ' + counts if counts else ''} FROM {raw}").fetchall()[0]
    total = int(row[0])
    if total == 0:
        raise InputError("the file has a header but no rows", file=str(path), row=2)
    bad = list(row[2:] if key else row[1:])
    # Rows are reported as line numbers of the file (header = line 1), as an editor shows them; a quoted
    # field with a line break shifts this by its extra lines.
    numbered = f"(SELECT row_number() OVER () + 1 AS _row, * FROM {raw})"
    for (column, cond, message), n in zip(rules, bad, strict=True):
        if n:
            first = con.execute(f"SELECT min(_row) FROM {numbered} WHERE {cond}").fetchall()[0]
            raise InputError(message, file=str(path), row=int(first[0]) if first else None, column=column)
    if key and int(row[1]) != total:
        first = con.execute(
            f"SELECT min(_row) FROM (SELECT _row, row_number() OVER (PARTITION BY {key} ORDER BY _row) AS k "
            f"FROM {numbered}) WHERE k = 2"
        ).fetchall()[0]
        raise InputError(
            "duplicate key: the value appears on an earlier row too",
            file=str(path),
            row=int(first[0]) if first and first[0] is not None else None,
            column=spec.key,
        )
    return total


def _read_csv(con: duckdb.DuckDBPyConnection, name: str, source: Path, header: list[str]) -> None:
    cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "}"
    con.execute(
        f"CREATE TEMP TABLE {_raw(name)} AS SELECT * FROM read_csv(?, header = true, columns = {cols}, "
        "quote = '\"', escape = '\"', delim = ',', strict_mode = true, null_padding = false)",
        [str(source)],
    )


class ExtractIntegrityWarning(UserWarning):
    """The manifest cannot vouch for a file (no row count or no checksum): it loads, unchecked in that respect."""


def _integrity_problem(entry: FileEntry, found: int, digest: str) -> str | None:
    """Why the file is not the one the manifest describes (row count first: it says what is missing), or None."""
    if entry.rows is not None and found != entry.rows:
        return (
            f"the file holds {found} data rows but manifest.json declares {entry.rows}: a truncated or altered "
            "export; nothing was loaded"
        )
    if entry.sha256 is not None and digest != entry.sha256:
        return (
            f"the file's SHA-256 differs from manifest.json although its row count ({found}) matches: it was "
            "changed after export; nothing was loaded"
        )
    return None


def _warn_unvouched(name: str, entry: FileEntry, path: Path) -> None:
    missing = [what for what, v in (("row count", entry.rows), ("sha256", entry.sha256)) if v is None]
    if missing:
        warnings.warn(
            f"{path}: manifest.json gives no {' and no '.join(missing)} for {name!r}; a truncated or altered file "
            "cannot be detected (re-export with a current manifest, docs/extract-format.md)",
            ExtractIntegrityWarning,
            stacklevel=3,
        )


def _read_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    spec: FileSpec,
    manifest: ExtractManifest,
    scratch: Path,
    nul: int | None,
) -> None:
    """Header, NUL and encoding checks, then the file into `src_<name>` (all text)."""
    header = read_header(path, manifest.encoding)
    if nul is not None:
        raise refuse_nul(path, nul, header, manifest.encoding)
    _check_header(path, spec, header)
    source = path
    if manifest.encoding in ("cp949", "euc-kr"):
        # DuckDB reads UTF-8 only (other encodings need an extension it would download), so transcode.
        source = scratch / f"{spec.name}.utf8.csv"
        transcode_to_utf8(path, "cp949", source, header)  # CP949 is a superset of EUC-KR
    try:
        _read_csv(con, spec.name, source, header)
    except duckdb.Error as exc:
        if "unicode" in str(exc).lower() or "utf" in str(exc).lower():
            transcode_to_utf8(path, manifest.encoding, None, header)  # raises with line and column
        raise InputError(f"not a well-formed CSV file: {str(exc).splitlines()[0]}", file=str(path)) from exc


def load_extract(
    con: duckdb.DuckDBPyConnection, folder: Path, manifest: ExtractManifest, scratch: Path
) -> dict[str, int]:
    """Load every extract file into `src_<name>` tables (all text), validated; returns rows per file.

    Each file must match its manifest entry (row count, SHA-256) before its rows are checked; only temporary
    tables are written here, so a refused extract leaves every store as it was."""
    counts: dict[str, int] = {}
    for name, spec in EXTRACT_FILES.items():
        entry = manifest.files.get(name)
        if entry is None:
            raise InputError(f"manifest.json lists no file for {name!r}", file=str(folder / "manifest.json"))
        path = folder / entry.file
        if not path.is_file():
            raise InputError("file listed in manifest.json is missing", file=str(path))
        _warn_unvouched(name, entry, path)
        digest, nul = scan_file(path)
        altered = entry.sha256 is not None and digest != entry.sha256
        try:
            _read_file(con, path, spec, manifest, scratch, nul)
        except InputError as exc:
            if not altered:
                raise
            # The file is not the one exported: say so first, then what reading it found.
            raise InputError(
                f"the file's SHA-256 differs from manifest.json (changed after export) and it does not read: {exc}",
                file=str(path),
                row=exc.row,
                column=exc.column,
            ) from exc
        found = int(con.execute(f"SELECT count(*) FROM {_raw(name)}").fetchall()[0][0])
        problem = _integrity_problem(entry, found, digest)
        if problem is not None:
            raise InputError(problem, file=str(path))
        counts[name] = _validate(con, path, spec, manifest)
    return counts
