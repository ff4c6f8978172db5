"""A Hangul-capable font for matplotlib (figures, PDF) and HTML, or None when the machine has none.

Looked up once: `DARI_REPORT_FONT` (a .ttf/.otf/.ttc file) first, then installed families known to cover Hangul,
then NanumGothic (SIL Open Font License) as shipped in the koreanize-matplotlib wheel, a dependency of dari for
that file alone: its module is never imported (importing it restyles matplotlib globally), its font files are
registered. The Hangul font is a fallback in every language (a Korean hospital name in an English report), so a
page holding Korean always draws it with that font; without any, callers fall back to English in figures.

Two sources of warnings are dealt with at their cause: the NanumGothic Bold file declares weight 600, so matplotlib
warned on every bold string that it "now uses 600" (the face is registered as the family's bold, 700); and the
Nanum files carry Visual TrueType source tables (TSI0–TSI5) that fontTools' subsetter drops with a warning each
time a PDF embeds the font (they hold hinting sources only, never glyphs: those records are filtered).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import os
from pathlib import Path

from matplotlib import font_manager

from dari.errors import InputError

HANGUL_FAMILIES = (
    "NanumGothic",
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Source Han Sans KR",
    "Malgun Gothic",
    "AppleGothic",
    "Apple SD Gothic Neo",
    "UnDotum",
    "Baekmuk Gulim",
)
LATIN = "DejaVu Sans"  # matplotlib's own font: covers the symbols (≥, −, τ, ◆) Hangul fonts may lack


class _DropVttNotice(logging.Filter):
    """Drop fontTools' notice that it dropped the VTT source tables (TSI*) while subsetting a font for a PDF."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not (msg.startswith("TSI") and "NOT subset" in msg)


def _quiet_subsetter() -> None:
    log = logging.getLogger("fontTools.subset")
    if not any(isinstance(f, _DropVttNotice) for f in log.filters):
        log.addFilter(_DropVttNotice())


@functools.cache
def hangul_font() -> str | None:
    """The family name of a font that covers Hangul, registering `DARI_REPORT_FONT` if set; None if none."""
    _quiet_subsetter()
    path = os.environ.get("DARI_REPORT_FONT")
    if path:
        if not Path(path).is_file():
            raise InputError("font file not found", file=path, column="DARI_REPORT_FONT")
        font_manager.fontManager.addfont(path)
        return font_manager.FontProperties(fname=path).get_name()
    # the bundled file first: the same glyphs on every machine, so the same report bytes
    installed = {f.name for f in font_manager.fontManager.ttflist}
    family = _bundled_nanum() or next((f for f in HANGUL_FAMILIES if f in installed), None)
    if family:
        _bold_as_700(family)
    return family


def _bold_as_700(family: str) -> None:
    """Register a family's semibold (600) face as its bold too when it has no 700 face (see the module note)."""
    faces = [f for f in font_manager.fontManager.ttflist if f.name == family]
    if any(f.weight == 700 for f in faces):
        return
    for f in faces:
        if f.weight == 600:
            font_manager.fontManager.ttflist.append(dataclasses.replace(f, weight=700))


def nanum_dir() -> Path | None:
    """The folder of the NanumGothic files in the koreanize-matplotlib wheel (found without importing it)."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    fonts = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    return fonts if (fonts / "NanumGothic.ttf").is_file() else None


def hangul_font_file(weight: str = "regular") -> Path | None:
    """The file of the Hangul font for HTML embedding: `DARI_REPORT_FONT`, else bundled NanumGothic (or bold)."""
    path = os.environ.get("DARI_REPORT_FONT")
    if path:
        return Path(path) if weight == "regular" else None
    folder = nanum_dir()
    if folder is None:
        return None
    f = folder / ("NanumGothic.ttf" if weight == "regular" else "NanumGothicBold.ttf")
    return f if f.is_file() else None


def _bundled_nanum() -> str | None:
    """Register the bundled NanumGothic regular and bold faces in place of any installed copy."""
    folder = nanum_dir()
    if folder is None:
        return None
    regular, bold = folder / "NanumGothic.ttf", folder / "NanumGothicBold.ttf"
    # drop same-named system faces so matplotlib cannot pick a different file of the same family
    manager = font_manager.fontManager
    manager.ttflist = [f for f in manager.ttflist if f.name != "NanumGothic"]
    for path in (regular, bold):
        if path.is_file():
            manager.addfont(str(path))
    return font_manager.FontProperties(fname=str(regular)).get_name()


def rc_for(lang: str) -> dict[str, object]:
    """matplotlib settings for text in `lang`: Latin and Hangul fonts in the order the language reads best,
    each the other's per-glyph fallback; TrueType embedded in PDFs."""
    rc: dict[str, object] = {"pdf.fonttype": 42, "svg.fonttype": "path"}
    font = hangul_font()
    if font:
        rc["font.family"] = [font, LATIN] if lang == "ko" else [LATIN, font]
    return rc


def figure_lang(lang: str) -> str:
    """The language figures can be drawn in: Korean only when a Hangul font exists."""
    return "ko" if lang == "ko" and hangul_font() else "en"
