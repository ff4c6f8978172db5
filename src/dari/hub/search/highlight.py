"""Highlighted snippets: matched spans of a document field, and safe HTML with <mark> around them.

Search returns spans, never markup. `render_html` is the one place that turns a snippet into HTML: every character
of the document text is escaped (document text comes from sites and users and may hold '<script>'), and only the
<mark> tags this module writes are markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

# Text fields longer than this are cut to a window around the first match.
SNIPPET_CHARS = 200
_CONTEXT_BEFORE = 40
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Snippet:
    """A document field (or a window of it) with the character spans that matched the query.

    `text` is plain text; spans are (start, end) offsets into `text`, sorted and not overlapping.
    `cut_start` / `cut_end` say that the field continues before / after the window.
    """

    field: str
    text: str
    spans: tuple[tuple[int, int], ...]
    cut_start: bool = False
    cut_end: bool = False


def merge_spans(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted spans with overlapping or touching ones joined ('고혈압' over '혈압' → one span)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


def make_snippet(field: str, text: str, spans: Iterable[tuple[int, int]], *, width: int = SNIPPET_CHARS) -> Snippet:
    """A snippet of the field: the whole text when short, else a window of `width` characters around the first match."""
    merged = merge_spans(spans)
    if len(text) <= width:
        return Snippet(field, text, merged)
    first = merged[0][0] if merged else 0
    start = max(0, min(first - _CONTEXT_BEFORE, len(text) - width))
    if start > 0:  # do not cut a word in half when a space is near
        space = text.find(" ", start, first) if merged else text.find(" ", start)
        if 0 <= space < start + _CONTEXT_BEFORE // 2:
            start = space + 1
    end = min(len(text), start + width)
    inside = tuple((max(s, start) - start, min(e, end) - start) for s, e in merged if s < end and e > start)
    return Snippet(field, text[start:end], inside, cut_start=start > 0, cut_end=end < len(text))


def render_html(snippet: Snippet) -> str:
    """The snippet as HTML: text escaped, matches wrapped in <mark>, cuts shown as '…'."""
    parts: list[str] = [ELLIPSIS] if snippet.cut_start else []
    pos = 0
    for start, end in snippet.spans:
        parts.append(html.escape(snippet.text[pos:start]))
        parts.append(f"<mark>{html.escape(snippet.text[start:end])}</mark>")
        pos = end
    parts.append(html.escape(snippet.text[pos:]))
    if snippet.cut_end:
        parts.append(ELLIPSIS)
    return "".join(parts)
