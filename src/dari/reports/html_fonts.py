"""The report's Hangul font embedded in HTML: NanumGothic subset to the characters the page uses, as data URIs.

A self-contained report must read the same on a reviewer's machine without Korean fonts; the whole font is 4.5 MB
a face, the subset of one report a few hundred kB. fontTools ships with matplotlib, so no new dependency.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import string

from fontTools import subset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

from dari.reports.fonts import hangul_font_file

FAMILY = "DariHangul"  # a name of our own: a system NanumGothic of another version must not replace the subset


@functools.lru_cache(maxsize=8)
def _subset(path: str, chars: str) -> bytes:
    opts = subset.Options()
    opts.hinting = False  # hinting instructions are most of the file and browsers do not need them
    # VTT sources (no glyphs) and the 4 MB pair-kerning table (decoding it took 8 s of a 9 s subset)
    opts.drop_tables += ["TSI0", "TSI1", "TSI2", "TSI3", "TSI5", "kern"]
    opts.name_IDs = ["*"]
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    font = TTFont(path, lazy=True)
    sub = subset.Subsetter(opts)
    sub.populate(text=chars)
    sub.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def font_face_css(text: str) -> str:
    """@font-face rules (regular and bold) holding exactly the glyphs of `text`; empty when no font is found."""
    # printable ASCII always: pages that differ only in their numbers and names then share one cached subset
    chars = "".join(sorted((set(text) | set(string.printable)) - set(string.whitespace)))
    rules = []
    for weight, css_weight in (("regular", "400"), ("bold", "700")):
        path = hangul_font_file(weight)
        if path is None:
            continue
        data = base64.b64encode(_subset(str(path), chars)).decode("ascii")
        rules.append(
            f"@font-face{{font-family:{FAMILY};font-weight:{css_weight};"
            f"src:url(data:font/ttf;base64,{data}) format('truetype')}}"
        )
    return "\n".join(rules)
