"""Typo correction of query words against the index's own terms ('hypertention' → 'hypertension').

A query word is corrected only when the index holds no such term and the terminology knows no such form, and
only to an index term of similar length starting with the same character whose similarity (difflib's ratio,
2·matches / total length) is at least the cutoff: CUTOFF_LATIN for Latin words of MIN_LATIN_CHARS or more,
CUTOFF_HANGUL for Korean words of MIN_HANGUL_CHARS or more syllables (one syllable of three wrong is 0.67).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

from dari.hub.search.analysis import analyse, has_hangul

MIN_LATIN_CHARS = 5
MIN_HANGUL_CHARS = 3
CUTOFF_LATIN = 0.8
CUTOFF_HANGUL = 0.66
MAX_LENGTH_DIFFERENCE = 2


class Speller:
    """Index terms grouped by first character, for correcting the words of a query."""

    def __init__(self, terms: Iterable[str]) -> None:
        self._known = set(terms)
        self._by_first: dict[str, list[str]] = {}
        for t in self._known:
            if len(t) >= MIN_HANGUL_CHARS and (t.isalpha() or has_hangul(t)):
                self._by_first.setdefault(t[0], []).append(t)
        for group in self._by_first.values():
            group.sort()

    def correct(self, text: str, knows: Callable[[str], bool]) -> str:
        """The text with each unknown word replaced by its closest index term (unchanged when none is close)."""
        out = text
        for word in reversed(analyse(text)):  # from the end, so earlier offsets stay valid
            term = word.term
            if term in self._known or knows(term) or any(a.term in self._known for a in word.aliases):
                continue
            hangul = has_hangul(term)
            if len(term) < (MIN_HANGUL_CHARS if hangul else MIN_LATIN_CHARS):
                continue
            pool = [t for t in self._by_first.get(term[0], ()) if abs(len(t) - len(term)) <= MAX_LENGTH_DIFFERENCE]
            close = difflib.get_close_matches(term, pool, n=1, cutoff=CUTOFF_HANGUL if hangul else CUTOFF_LATIN)
            if close:
                out = out[: word.start] + close[0] + out[word.end :]
        return out
