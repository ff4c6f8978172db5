"""The report as a PDF (matplotlib only, no browser): text and tables flowed over A4 pages, then the figures.

A small layout engine: paragraphs and table cells are wrapped by character count, rows never split across pages.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from dari.reports.fonts import rc_for
from dari.reports.report_model import Table, ValidationReport

A4 = (8.27, 11.69)
MARGIN, LINE = 0.06, 0.0125  # fractions of the page
CHARS_PER_LINE = 150  # at 7 pt across the text width (CJK glyphs count double)


def _width(s: str) -> int:
    return sum(2 if ord(c) > 0x2E80 else 1 for c in s)


def _wrap(text: str, chars: int) -> list[str]:
    # wrap by display width: a Hangul glyph is about two Latin ones wide
    out: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            cand = f"{line} {word}" if line else word
            if _width(cand) <= chars:
                line = cand
                continue
            if line:
                out.append(line)
            while _width(word) > chars:
                cut = next((i for i in range(len(word), 0, -1) if _width(word[:i]) <= chars), 1)
                out.append(word[:cut])
                word = word[cut:]
            line = word
        out.append(line)
    return out


class _Pages:
    """A cursor over A4 pages."""

    def __init__(self, pdf: PdfPages, footer: str) -> None:
        self.pdf, self.footer, self.y, self.count = pdf, footer, 1 - MARGIN, 0
        self.fig: Figure | None = None

    def new(self) -> None:
        self.close()
        self.fig = plt.figure(figsize=A4)
        self.count += 1
        self.y = 1 - MARGIN

    def close(self) -> None:
        """Finish the current page, if one is open (no blank pages)."""
        if self.fig is None:
            return
        self.fig.text(0.5, MARGIN / 2, f"{self.footer} · {self.count}", ha="center", fontsize=6, color="grey")
        self.pdf.savefig(self.fig)  # type: ignore[no-untyped-call]
        plt.close(self.fig)
        self.fig = None

    def figure(self, fig: Figure) -> None:
        """A whole page for a figure."""
        self.close()
        self.pdf.savefig(fig)  # type: ignore[no-untyped-call]
        self.count += 1

    def need(self, lines: float) -> None:
        if self.fig is None or self.y - lines * LINE < MARGIN:
            self.new()

    def text(self, s: str, size: float = 7, weight: str = "normal", x: float = MARGIN) -> None:
        scale = size / 7
        for line in _wrap(s, int(CHARS_PER_LINE / scale)):
            self.need(scale)
            assert self.fig is not None
            self.fig.text(x, self.y, line, fontsize=size, weight=weight, va="top")
            self.y -= LINE * scale

    def table(self, tb: Table) -> None:
        ncol = len(tb.head)
        longest = [max(_width(r[i]) for r in (tb.head, *tb.rows)) for i in range(ncol)]
        budget = CHARS_PER_LINE * 1.1  # 6.5 pt cells
        widths = [max(6, min(w, int(budget * 0.5))) for w in longest]
        total = sum(widths)
        widths = [max(4, int(w * budget / total)) if total > budget else w for w in widths]
        xs = [MARGIN]
        for w in widths[:-1]:
            xs.append(xs[-1] + (w + 2) * (1 - 2 * MARGIN) / (budget + 2 * ncol))
        for k, row in enumerate((tb.head, *tb.rows)):
            cells = [_wrap(c, w) for c, w in zip(row, widths, strict=True)]
            height = max(len(c) for c in cells)
            self.need(height * 0.95 + 0.4)
            assert self.fig is not None
            bold = k == 0 or (k - 1) in tb.emphasis
            for x, c in zip(xs, cells, strict=True):
                self.fig.text(
                    x,
                    self.y,
                    "\n".join(c),
                    fontsize=6.5,
                    va="top",
                    weight="bold" if bold else "normal",
                    linespacing=1.15,
                )
            self.y -= LINE * (height * 0.95 + 0.35)
        if tb.caption:
            self.text(tb.caption, size=6)
        self.y -= LINE * 0.6


def render_pdf(report: ValidationReport, figures: Mapping[str, Figure], note: str | None = None) -> bytes:
    """The PDF bytes: every section's text and tables, each figure on the page after its section's text."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # a Hangul site name in an English PDF without a Hangul font: the note on page 1 says so already
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        _render(buf, report, figures, note)
    return buf.getvalue()


def _render(buf: io.BytesIO, report: ValidationReport, figures: Mapping[str, Figure], note: str | None) -> None:
    with plt.rc_context(rc_for(report.lang)), PdfPages(buf, metadata={"CreationDate": None}) as pdf:  # type: ignore[arg-type]
        pages = _Pages(pdf, f"{report.title} · dari {report.code_version} · {report.generated_at}")
        pages.new()
        pages.text(report.title, size=14, weight="bold")
        pages.text(report.subtitle, size=8)
        if note:
            pages.text(note, size=7, weight="bold")
        for s in report.sections:
            pages.y -= LINE
            pages.text(s.title, size=10, weight="bold")
            for p in s.paragraphs:
                pages.text(p)
                pages.y -= LINE * 0.3
            for b in s.bullets:
                pages.text(f"• {b}")
            for tb in s.tables:
                pages.table(tb)
            for f in s.figures:
                fig = figures[f.key]
                fig.suptitle(f.caption, fontsize=8)
                pages.figure(fig)
        pages.close()
