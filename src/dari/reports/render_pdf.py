"""A document (title, sections of paragraphs, tables and figures) as an A4 PDF, with matplotlib only (no browser).

Every page is A4: text pages portrait, a table too wide for portrait on landscape pages of its own, each figure
on a portrait page of its own at its drawn size with its caption. Every page carries the footer (what the
document is, its version and run) and "page i / n". Text is measured with the embedded fonts (`pdf_layout`),
wrapped to its column, and a table split over pages repeats its header row. The Hangul font is in the font list
of every page in both languages, so a Korean hospital name in the English report prints in Hangul.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from dari.reports.fonts import LATIN, rc_for
from dari.reports.i18n import Lang
from dari.reports.pdf_layout import A4_PT, CELL_PAD_PT, MARGIN_PT, column_widths, needs_landscape, wrap
from dari.reports.report_model import Section, Table, ValidationReport

BODY, CELL, FOOT = 8.5, 7.0, 6.5  # font sizes (pt)
LEADING = 1.32  # line height / font size
RED = "#b00020"


@dataclass(frozen=True)
class Document:
    """What `render_document` lays out: the report record of any kind, reduced to text, tables and figures."""

    lang: Lang
    title: str
    subtitle: str
    sections: tuple[Section, ...]
    footer: str  # e.g. "ckd v1.0.0 · dari 0.9 · run job-1a2b": the page number is added to it
    note: str | None = None
    page_word: str = "page"


class _Flow:
    """A cursor over pages; pages are kept until the end so each footer can say "page i / n"."""

    def __init__(self, family: tuple[str, ...]) -> None:
        self.family = family
        self.pages: list[Figure] = []
        self.fig: Figure | None = None
        self.w, self.h = A4_PT
        self.y = MARGIN_PT  # distance from the top edge, in points
        self.landscape = False

    @property
    def text_width(self) -> float:
        return self.w - 2 * MARGIN_PT

    def new_page(self, landscape: bool = False) -> Figure:
        self.landscape = landscape
        self.w, self.h = (A4_PT[1], A4_PT[0]) if landscape else A4_PT
        self.fig = plt.figure(figsize=(self.w / 72, self.h / 72))
        self.pages.append(self.fig)
        self.y = MARGIN_PT
        return self.fig

    def ensure(self, height: float, landscape: bool | None = None) -> Figure:
        """The current page if `height` points still fit on it (in the wanted orientation), else a new page."""
        want = self.landscape if landscape is None else landscape
        if self.fig is None or want != self.landscape or self.y + height > self.h - MARGIN_PT:
            return self.new_page(want)
        return self.fig

    def put(self, fig: Figure, x: float, y: float, s: str, size: float, bold: bool, color: str = "black") -> None:
        fig.text(
            x / self.w,
            1 - y / self.h,
            s,
            fontsize=size,
            weight="bold" if bold else "normal",
            va="top",
            ha="left",
            color=color,
            family=self._family_for(s),
        )

    def _family_for(self, s: str) -> list[str] | None:
        # a Latin-first page draws Latin-only strings with the Latin font alone: the Hangul fallback costs layout
        # time on every string, and adds nothing where no glyph needs it
        if self.family and self.family[0] == LATIN and all(ord(c) < 0x1100 for c in s):
            return [LATIN]
        return list(self.family) or None

    def text(self, s: str, size: float = BODY, bold: bool = False, color: str = "black", indent: float = 0) -> None:
        for line in wrap(s, self.text_width - indent, size, bold, self.family):
            fig = self.ensure(size * LEADING, landscape=False if self.fig is None else None)
            self.put(fig, MARGIN_PT + indent, self.y, line, size, bold, color)
            self.y += size * LEADING

    def alert(self, s: str) -> None:
        lines = wrap(s, self.text_width - 12, BODY, True, self.family)
        height = len(lines) * BODY * LEADING + 8
        fig = self.ensure(height)
        fig.add_artist(
            Rectangle(
                (MARGIN_PT / self.w, 1 - (self.y + height) / self.h),
                self.text_width / self.w,
                height / self.h,
                transform=fig.transFigure,
                facecolor="#fdecee",
                edgecolor=RED,
                linewidth=1.2,
            )
        )
        for i, line in enumerate(lines):
            self.put(fig, MARGIN_PT + 6, self.y + 4 + i * BODY * LEADING, line, BODY, True, RED)
        self.y += height + 4

    def table(self, tb: Table) -> None:
        cells = [list(tb.head), *(list(r) for r in tb.rows)]
        bold = frozenset({0, *(k + 1 for k in tb.emphasis)})
        landscape = needs_landscape(cells, CELL, self.family, bold)
        if landscape and not self.landscape:
            self.new_page(landscape=True)
        widths, _ = column_widths(cells, self.text_width, CELL, self.family, bold)
        xs = [MARGIN_PT]
        for wd in widths[:-1]:
            xs.append(xs[-1] + wd)
        wrapped = [
            [
                wrap(c, wd - 2 * CELL_PAD_PT, CELL, k == 0 or (k - 1) in tb.emphasis, self.family)
                for c, wd in zip(row, widths, strict=True)
            ]
            for k, row in enumerate(cells)
        ]
        heights = [max(len(c) for c in row) * CELL * LEADING + 2 * CELL_PAD_PT for row in wrapped]
        self._row(wrapped[0], xs, widths, heights[0], header=True, need=heights[0] + heights[min(1, len(heights) - 1)])
        for k in range(1, len(wrapped)):
            if self.y + heights[k] > self.h - MARGIN_PT:  # split: the header again on the next page
                self.new_page(self.landscape)
                self._row(wrapped[0], xs, widths, heights[0], header=True, need=heights[0])
            self._row(wrapped[k], xs, widths, heights[k], bold=(k - 1) in tb.emphasis, need=heights[k])
        if tb.caption:
            self.y += 2
            self.text(tb.caption, size=CELL, color="#444")
        self.y += BODY * 0.8
        if landscape:  # what follows the wide table goes back to portrait
            self.fig = None

    def _row(
        self,
        row: list[list[str]],
        xs: list[float],
        widths: list[float],
        height: float,
        *,
        header: bool = False,
        bold: bool = False,
        need: float,
    ) -> None:
        fig = self.ensure(need)
        top = 1 - self.y / self.h
        if header or bold:
            fig.add_artist(
                Rectangle(
                    (MARGIN_PT / self.w, top - height / self.h),
                    sum(widths) / self.w,
                    height / self.h,
                    transform=fig.transFigure,
                    facecolor="#eeeeee" if header else "#f3f3fb",
                    edgecolor="none",
                )
            )
        x0, x1 = MARGIN_PT / self.w, (MARGIN_PT + sum(widths)) / self.w
        fig.add_artist(Line2D([x0, x1], [top - height / self.h] * 2, transform=fig.transFigure, lw=0.4, color="#999"))
        for x, lines in zip(xs, row, strict=True):
            for i, line in enumerate(lines):
                self.put(fig, x + CELL_PAD_PT, self.y + CELL_PAD_PT + i * CELL * LEADING, line, CELL, header or bold)
        self.y += height

    def figure(self, src: Figure, caption: str, heading: str | None = None) -> None:
        """`src` moved onto a portrait A4 page of its own, at its drawn size, caption (and heading) above it."""
        self.fig = None
        w0, h0 = (float(v) * 72 for v in src.get_size_inches())
        for ax in src.axes:
            pos = ax.get_position()
            ax.set_position(pos)  # keep the drawn layout (tight_layout's) before the page size changes
        boxes = [(ax, ax.get_position()) for ax in src.axes]
        page_w, page_h = A4_PT
        src.set_size_inches(page_w / 72, page_h / 72)
        self.pages.append(src)
        self.fig, self.w, self.h, self.landscape, self.y = src, page_w, page_h, False, MARGIN_PT
        if heading:
            self.text(heading, size=11.5, bold=True)
            self.y += BODY * 0.4
        self.text(caption, size=BODY, bold=True)
        left, top = (page_w - w0) / 2, self.y + 6
        for ax, p in boxes:
            ax.set_position(
                (
                    (left + p.x0 * w0) / page_w,
                    1 - (top + (1 - p.y0) * h0) / page_h,
                    p.width * w0 / page_w,
                    p.height * h0 / page_h,
                )
            )
        self.fig = None

    def finish(self, pdf: PdfPages, footer: str, page_word: str) -> None:
        n = len(self.pages)
        for i, fig in enumerate(self.pages, start=1):
            w, h = (float(v) * 72 for v in fig.get_size_inches())
            fig.add_artist(
                Line2D(
                    [MARGIN_PT / w, 1 - MARGIN_PT / w],
                    [MARGIN_PT * 0.62 / h] * 2,
                    transform=fig.transFigure,
                    lw=0.4,
                    color="#999",
                )
            )
            label = f"{footer} · {page_word} {i} / {n}"
            fig.text(
                0.5,
                MARGIN_PT * 0.5 / h,
                label,
                ha="center",
                va="top",
                fontsize=FOOT,
                color="#444",
                family=list(self.family) or None,
            )
            pdf.savefig(fig)  # type: ignore[no-untyped-call]


def section_into(flow: _Flow, s: Section, figures: Mapping[str, Figure]) -> None:
    """One section: title, alerts, paragraphs, bullets, tables, then each figure on its own page (a section of
    figures only puts its title on the first figure's page, not alone at the foot of a text page)."""
    figures_only = bool(s.figures) and not (s.alerts or s.paragraphs or s.bullets or s.tables)
    if figures_only:
        first, *rest = s.figures
        flow.figure(figures[first.key], first.caption, heading=s.title)
        for f in rest:
            flow.figure(figures[f.key], f.caption)
        return
    flow.ensure(BODY * LEADING * 4)
    flow.y += BODY * 0.6
    flow.text(s.title, size=11.5, bold=True)
    for a in s.alerts:
        flow.alert(a)
    for p in s.paragraphs:
        flow.text(p)
        flow.y += BODY * 0.4
    for b in s.bullets:
        flow.text(f"• {b}", indent=6)
    for tb in s.tables:
        flow.table(tb)
    for f in s.figures:
        flow.figure(figures[f.key], f.caption)


def render_document(doc: Document, figures: Mapping[str, Figure] | None = None) -> bytes:
    """The PDF bytes of `doc` (no creation date: the same record gives the same bytes)."""
    buf = io.BytesIO()
    rc = rc_for(doc.lang)
    fonts = rc.get("font.family", [])
    family: tuple[str, ...] = tuple(fonts) if isinstance(fonts, list) else ()
    with plt.rc_context(rc), PdfPages(buf, metadata={"CreationDate": None}) as pdf:  # type: ignore[arg-type]
        flow = _Flow(family)
        flow.new_page()
        flow.text(doc.title, size=16, bold=True)
        flow.text(doc.subtitle, size=BODY, color="#444")
        if doc.note:
            flow.alert(doc.note)
        for s in doc.sections:
            section_into(flow, s, figures or {})
        try:
            flow.finish(pdf, doc.footer, doc.page_word)
        finally:
            for fig in flow.pages:
                if not figures or fig not in figures.values():
                    plt.close(fig)
    return buf.getvalue()


def report_document(report: ValidationReport, footer: str, page_word: str, note: str | None) -> Document:
    """The validation report as a `Document`."""
    return Document(
        lang=report.lang,
        title=report.title,
        subtitle=report.subtitle,
        sections=report.sections,
        footer=footer,
        note=note,
        page_word=page_word,
    )


def render_pdf(
    report: ValidationReport,
    figures: Mapping[str, Figure],
    footer: str,
    page_word: str = "page",
    note: str | None = None,
) -> bytes:
    """The validation report's PDF bytes; each figure on the page after its section's text."""
    return render_document(report_document(report, footer, page_word, note), figures)


def all_text(doc: Document) -> Sequence[str]:
    """Every string the document prints (for the font subset check)."""
    out = [doc.title, doc.subtitle, doc.footer, *(x for x in [doc.note] if x)]
    for s in doc.sections:
        out += [s.title, *s.paragraphs, *s.bullets, *s.alerts]
        for tb in s.tables:
            out += [*tb.head, *(c for r in tb.rows for c in r), tb.caption]
    return out
