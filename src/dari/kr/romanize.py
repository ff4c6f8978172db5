"""Revised Romanisation of Korean, syllable by syllable as the rules prescribe for personal names."""

from __future__ import annotations

_INITIALS = (
    "g",
    "kk",
    "n",
    "d",
    "tt",
    "r",
    "m",
    "b",
    "pp",
    "s",
    "ss",
    "",
    "j",
    "jj",
    "ch",
    "k",
    "t",
    "p",
    "h",
)
_MEDIALS = (
    "a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae",
    "oe", "yo", "u", "wo", "we", "wi", "yu", "eu", "ui", "i",
)  # fmt: skip
_FINALS = (
    "", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l",
    "l", "p", "l", "m", "p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t",
)  # fmt: skip
_FIRST, _LAST = 0xAC00, 0xD7A3


def romanize_syllable(syllable: str) -> str:
    """Romanise one Hangul syllable in isolation (lower case); other characters pass through."""
    code = ord(syllable)
    if not _FIRST <= code <= _LAST:
        return syllable
    index = code - _FIRST
    initial, rest = divmod(index, 21 * 28)
    medial, final = divmod(rest, 28)
    return _INITIALS[initial] + _MEDIALS[medial] + _FINALS[final]


def romanize_name(text: str) -> str:
    """Romanise a name part without cross-syllable sound changes, upper case as on a passport."""
    # RR rule for personal names: assimilation between syllables is not transcribed (Boknam, not Bongnam).
    return "".join(romanize_syllable(ch) for ch in text).upper()
