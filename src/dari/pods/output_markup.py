"""The airlock's markup rules: scripts, active elements, event handlers, data URIs and external references in
HTML, Markdown and SVG (and the tables of an HTML text, for the table rules)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from xml.etree import ElementTree

if TYPE_CHECKING:
    from dari.pods.output_findings import FindingLog

_ACTIVE_TAGS = frozenset({"script", "iframe", "object", "embed", "applet", "base", "frame", "frameset", "portal"})
_CSS_DATA = re.compile(r"url\(\s*['\"]?\s*data:", re.IGNORECASE)


class HtmlScan(HTMLParser):
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


def scan_markup(text: str, ctx: FindingLog) -> HtmlScan | None:
    """Run the HTML scan over a text that may carry markup (Markdown, CSV cells): scripts and data URIs."""
    if "<" not in text and "data:" not in text:
        return None
    scan = HtmlScan()
    scan.feed(text)
    scan.close()
    if scan.script:
        ctx.add("html_script", detail=scan.script)
    if scan.data_uri or re.search(r"\]\(\s*data:", text):
        ctx.add("html_data_uri", detail=scan.data_uri or "markdown link")
    return scan


_SVG_SCRIPT_TAGS = frozenset({"script", "foreignobject", "handler", "listener"})
_COMMENTS = re.compile(r"<!--(.*?)-->", re.DOTALL)


def check_svg(data: bytes, ctx: FindingLog) -> None:
    """Scripts, handlers, data URIs, external references and large text in an SVG (entity declarations refused)."""
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
