"""Page checks shared by the report tests: A4 size, text inside the page box, no overlapping words, glyphs
covered by the embedded fonts, every page rendered to PNG (poppler-utils' pdfinfo, pdftotext, pdftoppm)."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from matplotlib import font_manager

A4 = {(595, 842), (842, 595)}


@dataclass(frozen=True)
class Word:
    page: int
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


def need_poppler() -> None:
    """Skip, loudly, where poppler-utils is missing (the page checks cannot run without it)."""
    missing = [t for t in ("pdfinfo", "pdftotext", "pdftoppm") if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"POPPLER-UTILS MISSING ({', '.join(missing)}): report pages NOT checked; apt install poppler-utils"
        )


def page_sizes(pdf: Path) -> list[tuple[int, int]]:
    """(width, height) in points of every page."""
    out = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(pdf)], capture_output=True, text=True, check=True)
    return [
        (round(float(w)), round(float(h))) for w, h in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", out.stdout)
    ]


def words(pdf: Path) -> list[Word]:
    """Every word with its box, from `pdftotext -bbox`."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    found, page = [], 0
    for line in out.splitlines():
        if "<page " in line:
            page += 1
        m = re.search(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*)</word>', line)
        if m:
            x0, y0, x1, y1 = (float(v) for v in m.groups()[:4])
            found.append(Word(page, m.group(5), x0, y0, x1, y1))
    return found


def overlaps(ws: list[Word]) -> list[tuple[str, str]]:
    """Pairs of words on one line of one page whose boxes overlap by more than half a point."""
    bad = []
    lines: dict[tuple[int, int], list[Word]] = {}
    for w in ws:
        lines.setdefault((w.page, round(w.y0)), []).append(w)
    for line in lines.values():
        line.sort(key=lambda w: w.x0)
        bad += [(a.text, b.text) for a, b in itertools.pairwise(line) if a.x1 > b.x0 + 0.5]
    return bad


def uncovered(text: str) -> set[str]:
    """Characters of `text` that neither embedded font (DejaVu Sans, the Hangul font) holds: missing-glyph boxes."""
    from dari.reports.fonts import LATIN, hangul_font

    cmaps: set[int] = set()
    for family in (LATIN, hangul_font()):
        path = font_manager.findfont(font_manager.FontProperties(family=family))
        cmaps |= set(TTFont(path, lazy=True).getBestCmap())
    return {c for c in text if not c.isspace() and ord(c) not in cmaps}


def to_png(pdf: Path, out: Path) -> list[Path]:
    """Every page as a PNG (50 dpi), for the eye and for the count."""
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(out / pdf.stem)], check=True)
    return sorted(out.glob(f"{pdf.stem}*.png"))


def check_pages(pdf: Path, tmp: Path) -> list[Word]:
    """All page checks on one PDF; returns its words for further checks."""
    sizes = page_sizes(pdf)
    assert sizes and set(sizes) <= A4, sizes
    ws = words(pdf)
    for w in ws:
        width, height = sizes[w.page - 1]
        assert w.x0 >= 0 and w.y0 >= 0 and w.x1 <= width and w.y1 <= height, f"outside page {w.page}: {w}"
    assert not overlaps(ws), overlaps(ws)[:5]
    assert not uncovered("".join(w.text for w in ws))
    pngs = to_png(pdf, tmp)
    assert len(pngs) == len(sizes)
    assert all(p.stat().st_size > 2000 for p in pngs)  # drawn, not blank
    return ws
