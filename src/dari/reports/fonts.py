"""A Hangul-capable font for matplotlib (figures, PDF), or None when the machine has none.

Looked up once: `DARI_REPORT_FONT` (a .ttf/.otf/.ttc file) first, then installed families known to cover Hangul,
then NanumGothic (SIL Open Font License) as shipped in the koreanize-matplotlib wheel, a dependency of dari for
that file alone: its module is never imported (importing it restyles matplotlib globally), its font files are
registered. Without any, matplotlib would draw Korean as empty boxes, so callers fall back to English in figures.
"""

from __future__ import annotations

import functools
import importlib.util
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


@functools.cache
def hangul_font() -> str | None:
    """The family name of a font that covers Hangul, registering `DARI_REPORT_FONT` if set; None if none."""
    path = os.environ.get("DARI_REPORT_FONT")
    if path:
        if not Path(path).is_file():
            raise InputError("font file not found", file=path, column="DARI_REPORT_FONT")
        font_manager.fontManager.addfont(path)
        return font_manager.FontProperties(fname=path).get_name()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in HANGUL_FAMILIES if f in installed), None) or _bundled_nanum()


def _bundled_nanum() -> str | None:
    """Register the NanumGothic files of the koreanize-matplotlib wheel (found without importing its module)."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    fonts = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    regular = fonts / "NanumGothic.ttf"
    if not regular.is_file():
        return None
    for path in (regular, fonts / "NanumGothicBold.ttf"):
        if path.is_file():
            font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(regular)).get_name()


def rc_for(lang: str) -> dict[str, object]:
    """matplotlib settings for text in `lang`: a Hangul font first when there is one; TrueType embedded in PDFs."""
    rc: dict[str, object] = {"pdf.fonttype": 42, "svg.fonttype": "path"}
    font = hangul_font() if lang == "ko" else None
    if font:
        rc["font.family"] = [font, "DejaVu Sans"]
    return rc


def figure_lang(lang: str) -> str:
    """The language figures can be drawn in: Korean only when a Hangul font exists."""
    return "ko" if lang == "ko" and hangul_font() else "en"
