"""Automatic checks of a held pod run's outputs before two output checkers see them (the airlock's first line).

Each file is typed by its content (magic bytes, XML/HTML roots, UTF-8 text), never by its extension alone, and
checked by the rules of `dari.pods.output_rules`: tables (CSV, Markdown pipe tables, HTML tables) for small cells
below the site's floor (`dari.disclosure.DisclosureRules.min_cell`), row-level outputs (rows against the cohort's
persons), identifier-like and day-precision date columns, and wide tables; PNGs chunk by chunk (unknown or large
ancillary chunks, data after IEND, pixel data that does not match the image's size, incompressible pixels); SVG and
HTML for scripts, event handlers, data URIs and external references. A finding names the file, row and column and
the rule, never a value: the findings travel to the hub with the manifest while the contents stay at the site.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

from pydantic import BaseModel, ConfigDict, Field

from dari.disclosure import DisclosureRules
from dari.pods import output_rules as R  # noqa: N812 (the rule table, read as R.RULES, R.COUNT_HEADER …)
from dari.pods.output_rules import CheckSettings, Severity

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Findings kept per file (a 1,000-column table would otherwise list every column).
MAX_FINDINGS = 100
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


class Finding(BaseModel):
    """One rule that fired on one file: where (row and column when relevant), which rule, what it means."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    file: str = Field(max_length=300)
    rule: str = Field(max_length=40)
    severity: Severity
    message_ko: str = Field(max_length=300)
    message_en: str = Field(max_length=300)
    row: int | None = Field(default=None, description="1-based row of the file or table (CSV: the header is row 1)")
    column: str | None = None
    detail: str = Field(default="", max_length=300, description="where in the file; never a value from it")


class FileReport(BaseModel):
    """One output file as the manifest lists it: name, size, SHA-256, content type and findings (never content)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^([0-9a-f]{64})?$", description="empty for what is not a plain file")
    kind: str | None = Field(description="content type found: csv, png, svg, html, md, txt, or None (refused)")
    findings: list[Finding] = Field(default_factory=list, max_length=MAX_FINDINGS + len(R.RULES))

    @property
    def blocked(self) -> bool:
        """Whether a blocking finding keeps the file at the site whatever the checkers decide."""
        return any(f.severity == "block" for f in self.findings)


class OutputReport(BaseModel):
    """The automatic checks of one run's outputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    files: list[FileReport]
    min_cell: int

    @property
    def findings(self) -> list[Finding]:
        """Every finding, file by file."""
        return [f for r in self.files for f in r.findings]

    def releasable(self) -> list[str]:
        """Names of the files no blocking rule holds back."""
        return [r.name for r in self.files if not r.blocked]


class _Context:
    """What one file's checks share: its name, the site's floor, the cohort's size, the thresholds, the findings."""

    def __init__(self, name: str, rules: DisclosureRules, cohort_size: int | None, settings: CheckSettings) -> None:
        self.name, self.rules, self.cohort_size, self.settings = name, rules, cohort_size, settings
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, str | None, str]] = set()

    def add(self, rule: str, *, row: int | None = None, column: str | None = None, detail: str = "") -> None:
        """Record a finding of `rule` (once per rule, column and table)."""
        key, r = (rule, column, detail.split(":", 1)[0]), R.RULES[rule]
        if key in self._seen:
            return
        if len(self.findings) >= MAX_FINDINGS and (r.severity != "block" or any(f.rule == rule for f in self.findings)):
            return  # past the cap only a rule that blocks and has not fired yet is added: a block is never lost
        self._seen.add(key)
        self.findings.append(
            Finding(
                file=self.name,
                rule=rule,
                severity=r.severity,
                message_ko=r.ko,
                message_en=r.en,
                row=row,
                column=None if column is None else column[:100],
                detail=detail[:300],
            )
        )


def check_outputs(
    folder: Path,
    *,
    rules: DisclosureRules | None = None,
    cohort_size: int | None = None,
    settings: CheckSettings | None = None,
) -> OutputReport:
    """Check every file under `folder` (a held run's outputs) against the site's floor and the cohort's size."""
    r, s = rules or DisclosureRules(), settings or CheckSettings()
    reports = [
        check_file(path, path.relative_to(folder).as_posix(), rules=r, cohort_size=cohort_size, settings=s)
        for path in sorted(folder.rglob("*"))
        if not path.is_dir() or path.is_symlink()
    ]
    return OutputReport(files=reports, min_cell=r.min_cell)


def check_file(
    path: Path,
    name: str,
    *,
    rules: DisclosureRules | None = None,
    cohort_size: int | None = None,
    settings: CheckSettings | None = None,
) -> FileReport:
    """The report of one output file; a check that fails to run is a `check_error` finding, never a pass."""
    ctx = _Context(name, rules or DisclosureRules(), cohort_size, settings or CheckSettings())
    if path.is_symlink() or not path.is_file():
        ctx.add("file_type", detail="not a plain file")
        return FileReport(name=name, size=0, sha256="", kind=None, findings=ctx.findings)
    data = path.read_bytes()
    kind = sniff(data, path.suffix.lower())
    try:
        _CHECKS.get(kind or "", _no_check)(data, ctx)
    except Exception as exc:  # a malformed file is held back, the reason recorded apart from the rules' findings
        ctx.add("check_error", detail=type(exc).__name__)
    if kind is None:
        ctx.add("file_type", detail=f"extension {path.suffix.lower()[:16] or '(none)'}")
    elif path.suffix.lower() not in R.ALLOWED_KINDS[kind]:
        ctx.add("type_mismatch", detail=f"content {kind}, extension {path.suffix.lower()[:16] or '(none)'}")
    return FileReport(
        name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(), kind=kind, findings=ctx.findings
    )


def sniff(data: bytes, suffix: str) -> str | None:
    """The file's kind from its content: png, svg, html, or a text kind (csv, md, txt) named by the extension."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    head = text[:2048].lstrip().lower()
    head = re.sub(r"^(<\?xml[^>]*>\s*|<!--.*?-->\s*)+", "", head, flags=re.DOTALL)
    if head.startswith("<svg") or (head.startswith("<!doctype svg") and "<svg" in head):
        return "svg"
    if head.startswith(("<!doctype html", "<html")):
        return "html"
    for kind in ("csv", "md", "txt"):
        if suffix in R.ALLOWED_KINDS[kind]:
            return kind
    if suffix in R.ALLOWED_KINDS["html"]:  # an HTML fragment without a root element
        return "html"
    return None


def _no_check(data: bytes, ctx: _Context) -> None:
    """Files of no allowed kind are refused by `file_type`; nothing else to check."""


# --- tables ---------------------------------------------------------------------------------------------------


def check_table(header: Sequence[str], rows: Sequence[Sequence[str]], ctx: _Context, where: str = "") -> None:
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


def _check_column(name: str, values: list[str], ctx: _Context, prefix: str) -> None:
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


def _check_csv(data: bytes, ctx: _Context) -> None:
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
    _check_markup_text(text, ctx)


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


def _check_text(data: bytes, ctx: _Context) -> None:
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
    _check_markup_text(text, ctx)


# --- HTML, SVG ------------------------------------------------------------------------------------------------

_ACTIVE_TAGS = frozenset({"script", "iframe", "object", "embed", "applet", "base", "frame", "frameset", "portal"})
_CSS_DATA = re.compile(r"url\(\s*['\"]?\s*data:", re.IGNORECASE)


class _HtmlScan(HTMLParser):
    """Scripts, active elements, handlers, data URIs and the tables of an HTML (or Markdown) text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.script, self.data_uri = "", ""
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _ACTIVE_TAGS:
            self.script = self.script or f"<{tag}>"
        for key, value in attrs:
            v = (value or "").strip().lower()
            if key.startswith("on") or v.startswith(("javascript:", "vbscript:")):
                self.script = self.script or f"{key}= on <{tag}>"
            elif v.startswith("data:") or _CSS_DATA.search(v):
                self.data_uri = self.data_uri or f"{key}= on <{tag}>"
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
            self.tables[-1].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if _CSS_DATA.search(data):
            self.data_uri = self.data_uri or "style"


def _check_markup_text(text: str, ctx: _Context) -> _HtmlScan | None:
    """Run the HTML scan over a text that may carry markup (Markdown, CSV cells): scripts and data URIs."""
    if "<" not in text and "data:" not in text:
        return None
    scan = _HtmlScan()
    scan.feed(text)
    scan.close()
    if scan.script:
        ctx.add("html_script", detail=scan.script)
    if scan.data_uri or re.search(r"\]\(\s*data:", text):
        ctx.add("html_data_uri", detail=scan.data_uri or "markdown link")
    return scan


def _check_html(data: bytes, ctx: _Context) -> None:
    scan = _check_markup_text(data.decode("utf-8-sig"), ctx)
    for k, table in enumerate(scan.tables if scan else [], start=1):
        if table:
            check_table(table[0], table[1:], ctx, f"table {k}")


_SVG_SCRIPT_TAGS = frozenset({"script", "foreignobject", "handler", "listener"})
_COMMENTS = re.compile(r"<!--(.*?)-->", re.DOTALL)


def _check_svg(data: bytes, ctx: _Context) -> None:
    text = data.decode("utf-8-sig")
    if re.search(r"<!ENTITY", text, re.IGNORECASE):  # entity expansion: refused before parsing (XML bombs)
        ctx.add("svg_embedded", detail="XML entity declaration")
        return
    root = ElementTree.fromstring(text)  # noqa: S314 (entity declarations refused above; expat resolves no external)
    chars = sum(len(m) for m in _COMMENTS.findall(text))
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1].lower() if isinstance(element.tag, str) else ""
        if tag in _SVG_SCRIPT_TAGS:
            ctx.add("svg_script", detail=f"<{tag}>")
        chars += len(element.text or "") + len(element.tail or "")
        for key, value in element.attrib.items():
            local, v = key.rsplit("}", 1)[-1].lower(), value.strip().lower()
            if local.startswith("on") or v.startswith(("javascript:", "vbscript:")):
                ctx.add("svg_script", detail=f"{local}= on <{tag}>")
            elif v.startswith("data:") or _CSS_DATA.search(v):
                ctx.add("svg_embedded", detail=f"data URI in {local}= on <{tag}>")
            elif local in ("href", "src") and not v.startswith("#"):
                ctx.add("svg_embedded", detail=f"external reference in {local}= on <{tag}>")
    if chars > ctx.settings.max_svg_text_chars:
        ctx.add("svg_embedded", detail=f"{chars} characters of text and comments")
    if _CSS_DATA.search(text):
        ctx.add("svg_embedded", detail="data URI in a style")


# --- PNG ------------------------------------------------------------------------------------------------------


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlace: int) -> int:
    """Bytes of the filtered scanlines a PNG of this header decompresses to (PNG spec, 7.2 and Adam7)."""
    bits = _CHANNELS[colour] * depth

    def size(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits + 7) // 8)

    if interlace == 0:
        return size(width, height)
    return sum(
        size((width - x0 + dx - 1) // dx if width > x0 else 0, (height - y0 + dy - 1) // dy if height > y0 else 0)
        for x0, y0, dx, dy in _ADAM7
    )


def _check_png(data: bytes, ctx: _Context) -> None:
    s, pos, header, idat, text_bytes = ctx.settings, len(PNG_SIGNATURE), None, [], 0
    ended = False
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4 or zlib.crc32(ctype + body) != struct.unpack(">I", crc)[0]:
            ctx.add("png_pixels", detail="a truncated or corrupt chunk")
            return
        pos += 12 + length
        name = ctype.decode("latin-1")
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            ended = True
            break
        elif ctype in R.PNG_TEXT_CHUNKS:
            text_bytes += length
        elif ctype not in R.PNG_CHUNKS:
            ctx.add("png_chunk", detail=f"chunk {name!a}")
        elif length > 65_536:
            ctx.add("png_chunk", detail=f"chunk {name} of {length} bytes")
    if text_bytes > s.max_png_text_bytes:
        ctx.add("png_chunk", detail=f"{text_bytes} bytes of text chunks")
    if ended and pos < len(data):
        ctx.add("png_trailing", detail=f"{len(data) - pos} bytes after IEND")
    if header is None or not ended or header[3] not in _CHANNELS:
        ctx.add("png_pixels", detail="no complete image header and end")
        return
    width, height, depth, colour, _, _, interlace = header
    expected = _png_raw_size(width, height, depth, colour, interlace)
    stream = b"".join(idat)
    inflater = zlib.decompressobj()
    raw = inflater.decompress(stream, expected + 1)  # bounded: a decompression bomb stops one byte over
    if len(raw) != expected or inflater.unconsumed_tail or inflater.unused_data or not inflater.eof:
        ctx.add("png_pixels", detail="pixel data longer or shorter than the image")
    if expected >= s.dense_min_raw_bytes and len(stream) >= s.dense_ratio * expected:
        ctx.add("image_dense", detail=f"compressed to {len(stream) / expected:.0%} of the raw pixels")


_CHECKS = {
    "csv": _check_csv,
    "md": _check_text,
    "txt": _check_text,
    "html": _check_html,
    "svg": _check_svg,
    "png": _check_png,
}
