"""The airlock's table rules over CSV, Markdown pipe tables, HTML tables and text: row-level outputs, wide
tables, identifier-like and day-date columns, small cells below the site's floor."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from dari.pods import output_rules as R  # noqa: N812 (the rule table, read as R.RULES, R.COUNT_HEADER …)
from dari.pods.output_markup import scan_markup

if TYPE_CHECKING:
    from dari.pods.output_findings import FindingLog


def check_table(header: Sequence[str], rows: Sequence[Sequence[str]], ctx: FindingLog, where: str = "") -> None:
    """The table rules: row-level, wide, identifier-like and date-like columns, small cells (rows count from the
    header as row 1)."""
    s, prefix = ctx.settings, f"{where}: " if where else ""
    if ctx.cohort_size is not None:
        threshold = max(s.row_level_min_rows, math.ceil(s.row_level_ratio * ctx.cohort_size))
    else:
        threshold = s.row_level_min_rows * 10
    if len(rows) >= threshold:
        ctx.add("row_level", detail=f"{prefix}{len(rows)} rows")
    numeric_headers = sum(1 for h in header if INTEGER_LIKE.match(h))
    if len(header) > s.max_columns or (len(header) >= 10 and numeric_headers >= 0.8 * (len(header) - 1)):
        ctx.add("wide_table", detail=f"{prefix}{len(header)} columns")
    for j, name in enumerate(header):
        column = [row[j].strip() if j < len(row) else "" for row in rows]
        _check_column(name.strip(), column, ctx, prefix)


INTEGER_LIKE = re.compile(r"^\s*-?\d+(\.0+)?\s*$")
_LONG_NUMBER = re.compile(r"^\d{6,13}$")


def _check_column(name: str, values: list[str], ctx: FindingLog, prefix: str) -> None:
    label = name or "(unnamed)"
    if R.IDENTIFIER_HEADER.search(name):
        ctx.add("identifier_column", column=label, detail=f"{prefix}column name")
    filled = [(i, v) for i, v in enumerate(values, start=2) if v]
    if not filled:
        return
    for i, v in filled:
        if R.RRN_VALUE.search(v) or R.PHONE_VALUE.search(v):
            ctx.add("identifier_value", row=i, column=label, detail=f"{prefix}value shape")
            break
    texts = [v for _, v in filled]
    distinct_numbers = all(_LONG_NUMBER.match(v) for v in texts) and len(set(texts)) == len(texts)
    if len(texts) >= 10 and distinct_numbers and not R.DATE_HEADER.search(name):
        ctx.add("identifier_column", column=label, detail=f"{prefix}distinct long numbers")
    dated = [
        (i, v) for i, v in filled if R.DAY_DATE.match(v) or (R.DATE_HEADER.search(name) and R.COMPACT_DATE.match(v))
    ]
    if dated and len(dated) * 2 >= len(filled):
        ctx.add("day_date", row=dated[0][0], column=label, detail=prefix.rstrip(": "))
    counts = _integers(filled)
    if counts is None:
        return
    floor = ctx.rules.min_cell
    small = next(((i, n) for i, n in counts if 0 < n < floor), None)
    if small is None:
        return
    if R.COUNT_HEADER.search(name):
        ctx.add("small_cell", row=small[0], column=label, detail=f"{prefix}below {floor}")
    elif not R.NOT_COUNT_HEADER.search(name) and all(n >= 0 for _, n in counts):
        ctx.add("small_cell_maybe", row=small[0], column=label, detail=f"{prefix}below {floor}")


def _integers(filled: Iterable[tuple[int, str]]) -> list[tuple[int, int]] | None:
    """The column as integers (row, value), or None when any filled cell is not an integer ("<10" is skipped)."""
    out = []
    for i, v in filled:
        if v.startswith("<"):  # a suppressed cell as dari shows it
            continue
        if not INTEGER_LIKE.match(v):
            return None
        out.append((i, int(float(v))))
    return out


def check_csv(data: bytes, ctx: FindingLog) -> None:
    """The table rules over a CSV file (header first), and the markup scan over its cells."""
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return
    rows = []
    for row in reader:
        rows.append(row)
        if len(rows) >= ctx.settings.max_table_rows:
            break
    check_table(header, rows, ctx)
    scan_markup(text, ctx)


_PIPE_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """The pipe tables of a Markdown text: (header, rows) each."""
    tables, lines, i = [], text.splitlines(), 0
    while i < len(lines) - 1:
        if "|" in lines[i] and _PIPE_SEPARATOR.match(lines[i + 1].strip()):
            header, rows, i = _cells(lines[i]), [], i + 2
            while i < len(lines) and "|" in lines[i]:
                rows.append(_cells(lines[i]))
                i += 1
            tables.append((header, rows))
        else:
            i += 1
    return tables


def _cells(line: str) -> list[str]:
    stripped = line.strip().removeprefix("|").removesuffix("|")
    return [c.strip() for c in stripped.split("|")]


def check_text(data: bytes, ctx: FindingLog) -> None:
    """Identifier-shaped values, row-level line counts, and the table rules over Markdown pipe tables."""
    text = data.decode("utf-8-sig")
    lines = text.splitlines()
    for n, line in enumerate(lines, start=1):
        if R.RRN_VALUE.search(line) or R.PHONE_VALUE.search(line):
            ctx.add("identifier_value", row=n, detail="text line")
            break
    s = ctx.settings
    if ctx.cohort_size is not None and len(lines) >= max(s.row_level_min_rows, s.row_level_ratio * ctx.cohort_size):
        ctx.add("row_level", detail=f"{len(lines)} lines")
    for k, (header, rows) in enumerate(markdown_tables(text), start=1):
        check_table(header, rows, ctx, f"table {k}")
    scan_markup(text, ctx)


def check_html(data: bytes, ctx: FindingLog) -> None:
    """The markup scan of an HTML file, and the table rules over each of its tables."""
    scan = scan_markup(data.decode("utf-8-sig"), ctx)
    for k, table in enumerate(scan.tables if scan else [], start=1):
        if table:
            check_table(table[0], table[1:], ctx, f"table {k}")
