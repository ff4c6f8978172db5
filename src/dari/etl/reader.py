"""Reading a site's extract into DuckDB as raw text tables, refusing bad input with its exact location."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dari.cdm.schema import quote_ident
from dari.errors import InputError
from dari.etl.encoding import read_header, transcode_to_utf8
from dari.etl.extract_spec import EXTRACT_FILES, FileSpec
from dari.etl.manifest import ExtractManifest

RAW_PREFIX = "src_"


def _raw(name: str) -> str:
    return quote_ident(RAW_PREFIX + name)


def _check_header(path: Path, spec: FileSpec, header: list[str]) -> None:
    missing = [c for c in spec.columns if c not in header]
    if missing:
        raise InputError(f"missing column (expected {', '.join(spec.columns)})", file=str(path), row=1,
                         column=missing[0])
    extra = [c for c in header if c not in spec.columns]
    if extra:
        raise InputError("unexpected column; the extract format does not know it", file=str(path), row=1,
                         column=extra[0])
    dupes = {c for c in header if header.count(c) > 1}
    if dupes:
        raise InputError("column appears twice", file=str(path), row=1, column=sorted(dupes)[0])


def _parse_expr(column: str, kind: str, manifest: ExtractManifest) -> str:
    col = quote_ident(column)
    if kind == "int":
        return f"TRY_CAST({col} AS BIGINT)"
    if kind == "number":
        return f"TRY_CAST({col} AS DOUBLE)"
    fmt = manifest.date_format if kind == "date" else manifest.datetime_format
    return f"TRY_STRPTIME({col}, '{fmt}')"


def _validate(con: duckdb.DuckDBPyConnection, path: Path, spec: FileSpec, manifest: ExtractManifest) -> None:
    raw = _raw(spec.name)
    if con.execute(f"SELECT count(*) FROM {raw}").fetchone() == (0,):
        raise InputError("the file has a header but no rows", file=str(path), row=2)
    # Each problem is reported at its first row; values are never echoed (they may be identifiers).
    for column in spec.required:
        hit = con.execute(f"SELECT min(_row) FROM {raw} WHERE {quote_ident(column)} IS NULL").fetchone()
        if hit and hit[0] is not None:
            raise InputError("required value is empty", file=str(path), row=int(hit[0]), column=column)
    for column, kind in spec.types.items():
        expr = _parse_expr(column, kind, manifest)
        hit = con.execute(
            f"SELECT min(_row) FROM {raw} WHERE {quote_ident(column)} IS NOT NULL AND {expr} IS NULL"
        ).fetchone()
        if hit and hit[0] is not None:
            expected = {"int": "a whole number", "number": "a number",
                        "date": f"a date as {manifest.date_format}",
                        "datetime": f"a date-time as {manifest.datetime_format}"}[kind]
            raise InputError(f"malformed value, expected {expected}", file=str(path), row=int(hit[0]),
                             column=column)
    if spec.key is not None:
        key = quote_ident(spec.key)
        dup = con.execute(
            f"SELECT _row FROM (SELECT _row, row_number() OVER (PARTITION BY {key} ORDER BY _row) AS k "
            f"FROM {raw}) WHERE k = 2 ORDER BY _row LIMIT 1"
        ).fetchone()
        if dup is not None:
            raise InputError("duplicate key: the value appears on an earlier row too", file=str(path),
                             row=int(dup[0]), column=spec.key)


def load_extract(con: duckdb.DuckDBPyConnection, folder: Path, manifest: ExtractManifest,
                 scratch: Path) -> dict[str, int]:
    """Load every extract file into `src_<name>` tables (all text plus `_row`, the 1-based data row)."""
    counts: dict[str, int] = {}
    for name, spec in EXTRACT_FILES.items():
        entry = manifest.files.get(name)
        if entry is None:
            raise InputError(f"manifest.json lists no file for {name!r}", file=str(folder / "manifest.json"))
        path = folder / entry.file
        if not path.is_file():
            raise InputError("file listed in manifest.json is missing", file=str(path))
        header = read_header(path, manifest.encoding)
        _check_header(path, spec, header)
        source = path
        if manifest.encoding in ("cp949", "euc-kr"):
            source = scratch / f"{name}.utf8.csv"
            transcode_to_utf8(path, "cp949", source, header)  # CP949 is a superset of EUC-KR
        else:
            transcode_to_utf8(path, manifest.encoding, None, header)
        cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "}"
        try:
            con.execute(
                f"CREATE TABLE {_raw(name)} AS SELECT row_number() OVER () AS _row, * FROM read_csv(?, "
                f"header = true, columns = {cols}, quote = '\"', escape = '\"', delim = ',', "
                f"strict_mode = true, null_padding = false, parallel = true)",
                [str(source)],
            )
        except duckdb.Error as exc:
            raise InputError(f"not a well-formed CSV file: {str(exc).splitlines()[0]}", file=str(path)) from exc
        _validate(con, path, spec, manifest)
        counts[name] = int(con.execute(f"SELECT count(*) FROM {_raw(name)}").fetchone()[0])  # type: ignore[index]
    return counts
