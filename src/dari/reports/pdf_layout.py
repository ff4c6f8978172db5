"""Measured text for the PDF: widths from the font itself (matplotlib's Agg renderer), wrapping and column widths.

Widths are in points. A string is measured with the same font files and fallback order the PDF embeds (their
advance widths, read once with fontTools), so a cell wrapped here never runs into the next column (the old layout
counted characters, and Latin widths vary by a factor 3).
"""

from __future__ import annotations

import functools

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from matplotlib import font_manager
from matplotlib.font_manager import FontProperties

A4_PT = (595.28, 841.89)  # portrait width, height
MARGIN_PT = 42.0  # about 15 mm
CELL_PAD_PT = 3.0


@functools.cache
def _metrics(family: tuple[str, ...], bold: bool) -> list[tuple[dict[int, str], dict[str, int], float]]:
    """(cmap, advance widths, units per em) of each font of `family` in fallback order, read with fontTools."""
    out = []
    for name in family or ("DejaVu Sans",):
        path = font_manager.findfont(FontProperties(family=name, weight="bold" if bold else "normal"))
        font = TTFont(path, lazy=True, fontNumber=0)
        hmtx = font["hmtx"]
        out.append((font.getBestCmap(), {g: hmtx[g][0] for g in hmtx.metrics}, float(font["head"].unitsPerEm)))
    return out


@functools.lru_cache(maxsize=65536)
def width(text: str, size: float, bold: bool = False, family: tuple[str, ...] = ()) -> float:
    """The advance width of `text` in points at `size`, each character from the first font of `family` that has
    it (matplotlib's fallback order; unhinted advances, as the PDF places glyphs; kerning ignored: it only
    tightens)."""
    fonts = _metrics(family, bold)
    total = 0.0
    for ch in text:
        code = ord(ch)
        for cmap, adv, upm in fonts:
            glyph = cmap.get(code)
            if glyph is not None:
                total += adv.get(glyph, 0) / upm
                break
        else:
            total += 1.0  # no font has it: reserve a wide box (the glyph check in the tests flags it)
    return total * size


def _break_word(word: str, limit: float, size: float, bold: bool, family: tuple[str, ...]) -> list[str]:
    """Split one word that is wider than `limit` (a long hash, a Korean run) at character boundaries."""
    parts, cur = [], ""
    for ch in word:
        if cur and width(cur + ch, size, bold, family) > limit:
            parts.append(cur)
            cur = ch
        else:
            cur += ch
    return [*parts, cur]


def wrap(text: str, limit: float, size: float, bold: bool = False, family: tuple[str, ...] = ()) -> list[str]:
    """Lines of `text` no wider than `limit` points (words kept whole where they fit; newlines kept)."""
    out: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            cand = f"{line} {word}" if line else word
            if width(cand, size, bold, family) <= limit:
                line = cand
                continue
            if line:
                out.append(line)
            pieces = _break_word(word, limit, size, bold, family) if width(word, size, bold, family) > limit else [word]
            out += pieces[:-1]
            line = pieces[-1]
        out.append(line)
    return out


def longest_word(text: str, size: float, bold: bool = False, family: tuple[str, ...] = ()) -> float:
    """The width of the widest word: a column narrower than this must break a word."""
    return max((width(w, size, bold, family) for w in text.replace("\n", " ").split(" ")), default=0.0)


def column_widths(
    cells: list[list[str]],
    available: float,
    size: float,
    family: tuple[str, ...] = (),
    bold: frozenset[int] = frozenset({0}),
) -> tuple[list[float], bool]:
    """Widths (points, padding included) for each column, summing to at most `available`, and whether every
    column is at least as wide as its widest word (False: some words will be broken).

    The auto table layout of browsers: each column gets its minimum (widest word), then the space left goes to
    the columns in proportion to how much wider their unwrapped text is.
    """
    ncol = len(cells[0])
    pad = 2 * CELL_PAD_PT
    natural = [max(width(r[i], size, k in bold, family) for k, r in enumerate(cells)) + pad for i in range(ncol)]
    minimum = [max(longest_word(r[i], size, k in bold, family) for k, r in enumerate(cells)) + pad for i in range(ncol)]
    if sum(natural) <= available:
        return natural, True
    if sum(minimum) > available:  # even the words do not fit: share the width in proportion to the minimum
        scale = available / sum(minimum)
        return [m * scale for m in minimum], False
    spare = available - sum(minimum)
    want = [n - m for n, m in zip(natural, minimum, strict=True)]
    total = sum(want) or 1.0
    return [m + spare * w / total for m, w in zip(minimum, want, strict=True)], True


def needs_landscape(
    cells: list[list[str]], size: float, family: tuple[str, ...] = (), bold: frozenset[int] = frozenset({0})
) -> bool:
    """True when the table's words cannot fit the portrait text width, or its cells would wrap to more than four
    lines there while landscape holds them in fewer."""
    portrait = A4_PT[0] - 2 * MARGIN_PT
    widths, whole = column_widths(cells, portrait, size, family, bold)
    if not whole:
        return True
    deepest = max(
        len(wrap(c, w - 2 * CELL_PAD_PT, size, k in bold, family))
        for k, row in enumerate(cells)
        for c, w in zip(row, widths, strict=True)
    )
    return deepest > 4 and len(cells[0]) >= 6
