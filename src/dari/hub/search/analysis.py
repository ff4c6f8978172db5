"""Text analysis for search: Korean morphemes (Kiwi) and English words, as index terms with character spans.

A text becomes a sequence of *words*, each with one primary term and its character span, plus *alias* terms
that make spelling and morphology variants meet:

Korean (kiwipiepy, model loaded once per process on first use, about 3 s):
  * content morphemes are kept — nouns (NNG, NNP), roots (XR), Hanja (SH), verb and adjective stems (VV, VA)
    — and particles, endings, copulas and punctuation dropped ('당뇨병으로' → '당뇨병');
  * a noun prefix (XPN) joins the noun after it ('고'+'혈압' → '고혈압'), a noun suffix (XSN) the word before it
    ('고혈압'+'성' → '고혈압성', alias '고혈압'; '2'+'형' → '2형'); the plural '들' is dropped;
  * a noun ending in 병 (disease) or 증 (condition) also yields its stem, so '당뇨병' meets '당뇨' and
    '경색증' meets '경색' (Kiwi keeps '당뇨병' as one morpheme);
  * words written together without a space or punctuation also yield their compound ('심근'+'경색증' →
    alias '심근경색증', and its stem '심근경색'): the exact eojeol still matches.
English and other Latin-script text (and codes such as 'HbA1c', 'E11.9'): lower case, British spellings
folded ('haemoglobin' → 'hemoglobin'), a plural 's' stripped, a few function words dropped.

Offsets are Python code points into the analysed string, so highlights line up with the text shown.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
# Latin letters (with accents), Greek letters (β-blocker) and digits; everything else separates words.
_LATIN_WORD = re.compile(r"[0-9A-Za-z\u00c0-\u024f\u0370-\u03ff]+(?:\.[0-9]+)*")
# A classification code with a dot ('E11.9', 'I12.0'): indexed without the dot, with its category as alias.
_DOTTED_CODE = re.compile(r"[a-z][0-9]{2}\.[0-9]+")
_ENGLISH_STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "its", "of", "on"}
    | {"or", "that", "the", "this", "to", "was", "were", "which", "with"}
)
# Tags of the Kiwi morphemes that carry content; see the Sejong tag set used by Kiwi.
_CONTENT_TAGS = frozenset({"NNG", "NNP", "XR", "SH", "VV", "VA"})
_STEM_TAGS = frozenset({"VV", "VA"})  # indexed by their dictionary stem ('아픈' → '아프')
_LIGHT_STEMS = frozenset({"있", "없", "하", "되", "않", "같"})  # too common to help a search
_PREFIX_TAG = "XPN"
_LATIN = "LATIN"  # pseudo-tag of a word found by the Latin-script regex
_SUFFIX_TAG = "XSN"
_DROPPED_SUFFIXES = frozenset({"들"})  # plural marker: '환자들' is '환자'
# Korean noun endings that mean "disease"/"condition": '당뇨병' also yields '당뇨'.
_DISEASE_ENDINGS = ("병", "증")
# British → American spelling folds applied to English words (both sides of the index, so either matches):
# haem-, anaemia, ischaemic; paediatric; oedema; oesophagus (only at the start: not 'does', 'shoes').
_SPELLING_FOLDS = (("aem", "em"), ("paed", "ped"), ("oedema", "edema"))
_LEADING_FOLDS = (("oes", "es"),)
# Long Korean nouns of documents also index their first syllables ('광주빛고을병원' → 광주, 광주빛, 광주빛고).
MIN_PREFIX_NOUN = 4
MAX_PREFIX_SYLLABLES = 4
# Characters outside the Basic Multilingual Plane are replaced before Kiwi sees the text; Kiwi reports
# code-point offsets, and the replacement keeps the length, so spans stay aligned either way.
_ASTRAL = re.compile(r"[\U00010000-\U0010ffff]")
# z_coda=False: do not split a consonant glued onto a particle or ending ('먹었어욥'); it only concerns the
# function morphemes search drops, and skipping it makes Kiwi faster.
_KIWI_OPTIONS: dict[str, Any] = {"z_coda": False}


@dataclass(frozen=True, slots=True)
class Span:
    """A term at a character span of the analysed text."""

    term: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a text: its primary term and span, and alias terms (variants that also index it)."""

    term: str
    start: int
    end: int
    aliases: tuple[Span, ...] = ()


_kiwi_lock = threading.Lock()
_kiwi_instance: Any = None


def kiwi() -> Any:
    """The process-wide Kiwi analyser, created on first use (the model takes about 3 s to load)."""
    global _kiwi_instance
    if _kiwi_instance is None:
        with _kiwi_lock:
            if _kiwi_instance is None:
                from kiwipiepy import Kiwi

                instance = Kiwi(num_workers=-1)
                instance.tokenize("")  # finish Kiwi's lazy initialisation here, not in a user's first query
                _kiwi_instance = instance
    return _kiwi_instance


def has_hangul(text: str) -> bool:
    """Whether the text holds Korean script (and so needs Kiwi)."""
    return _HANGUL.search(text) is not None


def english_term(word: str) -> str | None:
    """The index term of a Latin-script word, or None for a function word ('Diseases' → 'disease')."""
    term = word.lower()
    if term in _ENGLISH_STOPWORDS:
        return None
    if _DOTTED_CODE.fullmatch(term):
        return term.replace(".", "")
    for old, new in _SPELLING_FOLDS:
        if old in term:
            term = term.replace(old, new)
    for old, new in _LEADING_FOLDS:
        if term.startswith(old):
            term = new + term[len(old) :]
    if len(term) > 3 and term.isalpha():
        if term.endswith("ies"):
            term = term[:-3] + "y"
        elif term.endswith(("sses", "xes", "ches", "shes")):
            term = term[:-2]
        elif term.endswith("s") and not term.endswith(("ss", "us", "is")):
            term = term[:-1]
    return term


def _disease_stem(term: str) -> str | None:
    if len(term) >= 3 and term.endswith(_DISEASE_ENDINGS) and has_hangul(term[-1]):
        return term[:-1]
    return None


@dataclass(slots=True)
class _Piece:
    """A word being assembled from morphemes: its term, its core (before any suffix) and its full extent."""

    term: str
    start: int
    core_end: int
    end: int
    latin: bool
    suffixed: bool = False


def _latin_pieces(text: str) -> list[_Piece]:
    out = []
    for m in _LATIN_WORD.finditer(text):
        term = english_term(m.group())
        if term is not None:
            out.append(_Piece(term, m.start(), m.end(), m.end(), latin=True))
    return out


def _code_aliases(term: str, start: int) -> list[Span]:
    if len(term) > 3 and _DOTTED_CODE.fullmatch(f"{term[:3]}.{term[3:]}"):
        return [Span(term[:3], start, start + 3)]
    return []


def _korean_pieces(text: str, tokens: Sequence[Any]) -> list[_Piece]:
    """Words of a Korean text from Kiwi's morphemes; Latin words and digits come from the regex instead."""
    events: list[tuple[int, int, str, str]] = [(p.start, p.end, _LATIN, p.term) for p in _latin_pieces(text)]
    for tok in tokens:
        start, end = tok.start, tok.start + tok.len
        if tok.tag == "SH" or has_hangul(text[start:end]):
            events.append((start, end, tok.tag, tok.form))
    events.sort(key=lambda e: (e[0], e[1]))
    pieces: list[_Piece] = []
    prefix: tuple[int, int] | None = None  # (start, end) of a prefix (XPN) waiting for its noun
    for start, end, tag, form in events:
        if tag == _PREFIX_TAG:
            prefix = (start, end)
            continue
        if tag == _LATIN:
            pieces.append(_Piece(form, start, end, end, latin=True))
        elif tag in _STEM_TAGS:
            if form not in _LIGHT_STEMS:
                pieces.append(_Piece(form, start, end, end, latin=False))
        elif tag in _CONTENT_TAGS:
            begin = prefix[0] if prefix is not None and prefix[1] == start else start
            pieces.append(_Piece(text[begin:end].lower(), begin, end, end, latin=False))
        elif tag == _SUFFIX_TAG and pieces and pieces[-1].end == start and not pieces[-1].suffixed:
            last = pieces[-1]
            if text[start:end] not in _DROPPED_SUFFIXES and (not last.latin or text[last.start : last.end].isdigit()):
                last.end = end
                last.term = text[last.start : end].lower()
                last.latin = False
                last.suffixed = True
        prefix = None
    return pieces


def analyse(text: str) -> list[Word]:
    """The words of one text, in order (see the module docstring for the rules)."""
    return analyse_many([text])[0]


def analyse_many(texts: Iterable[str], *, prefixes: bool = False) -> list[list[Word]]:
    """The words of many texts; Korean texts go to Kiwi in one batch (Kiwi spreads a batch over threads).

    Each distinct text is analysed once (catalog fields repeat: publishers, keywords, boilerplate).
    `prefixes` (documents, not queries) adds the leading syllables of long Korean nouns as aliases, see
    `leading_syllables`.
    """
    items = list(texts)
    distinct = list(dict.fromkeys(items))
    korean = [t for t in distinct if has_hangul(t)]
    tokens: dict[str, Sequence[Any]] = {}
    if len(korean) == 1:  # one text (a query): analyse in this thread, not through Kiwi's worker pool
        tokens[korean[0]] = kiwi().tokenize(_ASTRAL.sub("\ufffd", korean[0]), **_KIWI_OPTIONS)
    elif korean:
        batch = (_ASTRAL.sub("\ufffd", t) for t in korean)
        tokens = dict(zip(korean, kiwi().tokenize(batch, **_KIWI_OPTIONS), strict=True))
    words = {
        t: _words(t, _korean_pieces(t, tokens[t]) if t in tokens else _latin_pieces(t), prefixes) for t in distinct
    }
    return [words[t] for t in items]


def leading_syllables(term: str, start: int) -> list[Span]:
    """The first 2 to MAX_PREFIX_SYLLABLES syllables of a Korean noun of at least MIN_PREFIX_NOUN syllables.

    Kiwi keeps a hospital's name as one proper noun ('광주빛고을병원', '서울한빛대학교병원'), so the place it
    starts with would never match a query '광주' or '서울'. Only documents get these aliases: on the query side
    they would let '심근경색증' match every text holding '심근'.
    """
    if len(term) < MIN_PREFIX_NOUN or not all("\uac00" <= ch <= "\ud7a3" for ch in term):
        return []
    return [Span(term[:k], start, start + k) for k in range(2, min(MAX_PREFIX_SYLLABLES, len(term) - 1) + 1)]


def _words(text: str, pieces: list[_Piece], prefixes: bool = False) -> list[Word]:
    words: list[Word] = []
    for p in pieces:
        aliases: list[Span] = []
        if p.suffixed:
            aliases.append(Span(text[p.start : p.core_end].lower(), p.start, p.core_end))
        aliases.extend(_code_aliases(p.term, p.start))
        for form in (p.term, *(a.term for a in aliases)):
            stem = _disease_stem(form)
            if stem is not None:
                aliases.append(Span(stem, p.start, p.start + len(stem)))
        if prefixes and not p.latin:
            aliases.extend(leading_syllables(p.term, p.start))
        words.append(Word(p.term, p.start, p.end, _unique(aliases, p.term)))
    return _with_compounds(text, words)


def _unique(aliases: Iterable[Span], term: str) -> tuple[Span, ...]:
    seen = {term}
    out = []
    for a in aliases:
        if a.term not in seen:
            seen.add(a.term)
            out.append(a)
    return tuple(out)


def _with_compounds(text: str, words: list[Word]) -> list[Word]:
    """Add each run of words written together (no space or punctuation between) as an alias of its last word."""
    out = list(words)
    run_start = 0
    for i in range(1, len(words) + 1):
        if i < len(words) and words[i].start == words[i - 1].end:
            continue
        if i - run_start >= 2:
            first, last = words[run_start], words[i - 1]
            compound = text[first.start : last.end].lower()
            extra = [Span(compound, first.start, last.end)]
            stem = _disease_stem(compound)
            if stem is not None:
                extra.append(Span(stem, first.start, last.end - 1))
            out[i - 1] = Word(last.term, last.start, last.end, _unique((*last.aliases, *extra), last.term))
        run_start = i
    return out


def spans(words: Sequence[Word]) -> list[Span]:
    """Every indexed term of the words with the span it covers, for highlighting."""
    out: list[Span] = []
    for w in words:
        out.append(Span(w.term, w.start, w.end))
        out.extend(w.aliases)
    return out
