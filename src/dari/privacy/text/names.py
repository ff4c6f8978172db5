"""Person names: Korean (surname lexicon, context cues, Kiwi morphology) and English (titles, roles, romanisation)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from dari.kr.gazetteer import load_name_tables
from dari.privacy.text.lexicon import ROMAN_GIVEN, alternation, lexicon
from dari.privacy.text.model import Span

_HANGUL_RUN = re.compile(r"[가-힣]+")
_LATIN_CAPITAL = re.compile(r"[A-Z]")
_ACCEPT = 2.0
_REL = r"(?:[ ]?\([가-힣]{1,4}\))?"
_KIWI_WINDOW = 400  # longest line handed to Kiwi whole  # evidence needed for a name without a strong cue (see _score)


@cache
def kiwi() -> Any:
    """The process-wide Kiwi analyser, created on first use (loading its model takes seconds)."""
    from kiwipiepy import Kiwi

    analyser = Kiwi()
    analyser.tokenize("환자 홍길동님 내원함.")  # the model finishes loading on first use; pay that here
    return analyser


@cache
def _suffixes() -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str], frozenset[str]]:
    """Attached honorifics and particles (longest first), one- and two-syllable surnames."""
    lex = lexicon()
    attached = tuple(sorted(lex.cue("person", "ko_suffix_attached"), key=len, reverse=True))
    particles = tuple(sorted(lex.cue("person", "ko_particles"), key=len, reverse=True))
    one = frozenset(s for s in lex.surnames if len(s) == 1)
    two = frozenset(s for s in lex.surnames if len(s) == 2)
    return attached, particles, one, two


@cache
def _rx() -> dict[str, re.Pattern[str]]:
    lex = lexicon()

    def cue(words: list[str]) -> str:
        return alternation(words)

    en_titles, en_roles = cue(lex.cue("person", "en_titles")), cue(lex.cue("person", "en_roles"))
    name_token = r"[A-Z][A-Za-z'\-]+"  # noqa: S105 - a regex, not a password
    return {
        # 보호자(딸): a relation in brackets may sit between the cue and the name
        "strong": re.compile(rf"(?<![가-힣])(?:{cue(lex.cue('person', 'ko_strong'))}){_REL}[ \t]*[:：]?[ \t]*$"),
        "field": re.compile(rf"(?<![가-힣])(?:{cue(lex.cue('person', 'ko_field'))})[ \t]*[:：][ \t]*$"),
        "latin": re.compile(rf"(?<![A-Za-z])(?:{cue(lex.cue('person', 'latin_prefix'))})[ \t]*[:：]?[ \t]*$"),
        "weak": re.compile(rf"(?<![가-힣])(?:{cue(lex.cue('person', 'ko_weak'))}){_REL}[ \t]*[:：]?[ \t]*$"),
        "after": re.compile(rf"[ \t]*(?:{cue(lex.cue('person', 'ko_suffix_word'))})"),
        "en_cue": re.compile(
            rf"(?:(?<![A-Za-z])(?:{en_titles})[ ]+|(?<![A-Za-z])(?i:{en_roles})(?:[ ]by)?[ \t]*[:：][ \t]*"
            rf"|(?<![A-Za-z])(?i:{en_roles})[ ]by[ ]+)"
            rf"(?P<n>(?!(?:Dr|Mr|Mrs|Ms|Miss|Prof)\b){name_token}(?:[ ]{name_token}){{0,2}})"
        ),
        "en_pair": re.compile(
            r"(?<![A-Za-z\-])([A-Z][a-z]+|[A-Z]{2,})[ ]([A-Z][a-z]+(?:-[a-z]+)?|[A-Z]{2,}(?:-[A-Z]+)?)\b"
        ),
    }


@cache
def _given_syllables() -> frozenset[str]:
    return frozenset(str(s) for pool in load_name_tables().pools.values() for s in pool.syllables)


def split_korean_name(
    word: str, first_morph_len: Callable[[], int | None], *, allow_common: bool = False
) -> tuple[str, bool] | None:
    """The name inside a Hangul word (안종복님 -> 안종복) and whether an honorific was attached; None if no name.

    first_morph_len gives the length of the word's first morpheme (Kiwi): a trailing particle is stripped only
    when Kiwi also ends the first morpheme there (홍길동|은, but 신장내과 stays whole).
    """
    shape = _name_shape(word)
    if shape is None:
        return None
    base, stripped, attached = shape
    if stripped is not None and first_morph_len() == 3:
        base = stripped
    return _checked(base, word, attached, allow_common)


@lru_cache(maxsize=100_000)
def _name_shape(word: str) -> tuple[str, str | None, bool] | None:
    """(base, base without a trailing particle or None, honorific attached) of a surname-initial word (cached)."""
    suffixes, particles, one, two = _suffixes()
    if word[:1] not in one and word[:2] not in two:
        return None
    for suffix in suffixes:
        if word.endswith(suffix) and 2 <= len(word) - len(suffix) <= 4:
            return word[: -len(suffix)], None, True
    # 홍길동은: strip a particle only from words too long to be a one-syllable-surname name.
    for particle in particles:
        if word.endswith(particle) and len(word) - len(particle) == 3 and len(word) >= 4:
            return word, word[: -len(particle)], False
    return word, None, False


@lru_cache(maxsize=100_000)
def _checked(base: str, word: str, attached: bool, allow_common: bool) -> tuple[str, bool] | None:
    lex = lexicon()
    _, _, one, two = _suffixes()
    surname = base[:2] if base[:2] in two and len(base) >= 3 else base[:1] if base[:1] in one else None
    if surname is None or not 1 <= len(base) - len(surname) <= 2:
        return None
    if not allow_common and (base in lex.common_ko or word in lex.common_ko):
        return None
    return base, attached


class _KiwiLines:
    """Kiwi tokens of a text's lines, analysed only for lines that need them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cache: dict[int, dict[int, tuple[str, int]]] = {}

    def token_at(self, pos: int) -> tuple[str, int] | None:
        """(tag, length) of the Kiwi token starting at text offset pos, if any."""
        start = self.text.rfind("\n", 0, pos) + 1
        end = self.text.find("\n", pos)
        end = len(self.text) if end < 0 else end
        if end - start > _KIWI_WINDOW:
            # a very long line (a 1 MB note without breaks): analyse the words around pos, not the whole line
            start = max(start, self.text.rfind(" ", 0, max(start, pos - _KIWI_WINDOW // 4)) + 1)
            cut = self.text.find(" ", min(end, pos + _KIWI_WINDOW // 4))
            end = end if cut < 0 else min(end, cut)
        if start not in self.cache:
            line = self.text[start:end]
            self.cache[start] = {start + t.start: (str(t.tag), int(t.len)) for t in kiwi().tokenize(line)}
        return self.cache[start].get(pos)


def _first_len(morph: _KiwiLines, pos: int) -> Callable[[], int | None]:
    def first() -> int | None:
        token = morph.token_at(pos)
        return None if token is None else int(token[1])

    return first


def _score(text: str, start: int, end: int, base: str, attached: bool, morph: Callable[[int], Any]) -> float:
    """Evidence that the word at [start, end) holding `base` is a person's name."""
    rx = _rx()
    before = text[max(0, start - 25) : start]
    if rx["strong"].search(before) or rx["latin"].search(before):
        return 10.0
    given = base[1:] if len(base) <= 3 else base[2:]
    score = 2.0 if attached else 0.0
    score += 1.0 if rx["weak"].search(before) else 0.0
    after = text[end : end + 12]
    if rx["after"].match(after):  # 홍길동 환자는, 정민호 교수님: the role word right after a name
        score += 1.5
    if re.match(r"[ \t]*\([ \t]*\d{5,}", after):  # 환자 오현 (10093604): a chart number follows
        score += 1.0
    elif re.match(r"[ \t]*\(", after):
        score += 0.5
    if all(s in _given_syllables() for s in given):
        score += 0.5
    if 1.0 <= score < _ACCEPT:
        token = morph(start)
        if token is not None and token[0] == "NNP" and token[1] >= len(base) - 1:
            score += 1.0
        elif token is not None and token[0] in ("NNG", "VV", "VA", "MAG", "XR") and 2 <= token[1] < len(base):
            score -= 1.0
    return score


def find_korean_names(text: str) -> list[Span]:
    """Korean names: a surname-initial word with a cue before it, an honorific after it, or Kiwi's NNP."""
    morph = _KiwiLines(text)
    out = []
    field_rx = _rx()["field"]
    for m in _HANGUL_RUN.finditer(text):
        if _name_shape(m.group(0)) is None:
            continue  # no surname first: most words end here, before any regex runs
        # A field that can only hold a name (성명: 문진) overrides the common-word list.
        field = field_rx.search(text, max(0, m.start() - 12), m.start()) is not None
        split = split_korean_name(m.group(0), _first_len(morph, m.start()), allow_common=field)
        if split is None:
            continue
        base, attached = split
        if _score(text, m.start(), m.end(), base, attached, morph.token_at) >= _ACCEPT:
            out.append(Span(m.start(), m.start() + len(base), "PERSON"))
    return out + _spaced_korean_names(text)


# a lookahead, so that 교수 김 지빈 is tried at 김 as well as at 교수
_SPACED = re.compile(r"(?<![가-힣])(?=([가-힣]{1,2})[ ]([가-힣]{1,4})(?![가-힣]))")


def _spaced_korean_names(text: str) -> list[Span]:
    """홍 길동: EMR exports and hand-typed notes often put a space after the surname; accepted on a cue only."""
    _, _, one, two = _suffixes()
    out = []
    for m in _SPACED.finditer(text):
        surname, rest = m.group(1), m.group(2)
        if surname not in (one if len(surname) == 1 else two):
            continue
        split = split_korean_name(surname + rest, lambda: None)
        if split is None or len(split[0]) <= len(surname):
            continue
        base, attached = split
        # no credit from morphology here (Kiwi reads 김 as a noun): a cue before or after must carry it
        score = _score(text, m.start(1), m.end(2), base, attached, lambda _pos: None)
        if score >= _ACCEPT:
            out.append(Span(m.start(1), m.start(2) + len(base) - len(surname), "PERSON"))
    return out


def _trim_english(name: str) -> str:
    """Cut a captured name at the first token that is not a name (Patient: Han Junhu MRN -> Han Junhu)."""
    kept = []
    for token in name.split(" "):
        if token.rstrip(".,") in lexicon().en_not_names:
            break
        kept.append(token)
    return " ".join(kept)


def find_english_names(text: str) -> list[Span]:
    """English-script names after titles/roles (Dr., Patient:) and romanised Korean names (Han Junhu)."""
    if not _LATIN_CAPITAL.search(text):
        return []  # a Hangul-only note: skip the English patterns altogether
    rx, lex = _rx(), lexicon()
    out = []
    for m in rx["en_cue"].finditer(text):
        name = _trim_english(m.group("n")).rstrip("'-")
        if name:
            out.append(Span(m.start("n"), m.start("n") + len(name), "PERSON"))
    for m in rx["en_pair"].finditer(text):
        surname, given = m.group(1), m.group(2)
        same_case = surname.isupper() == given.isupper()
        if (
            same_case
            and surname.upper() in lex.roman_surnames
            and given not in lex.en_not_names
            and ROMAN_GIVEN.fullmatch(given) is not None
        ):
            out.append(Span(m.start(), m.end(), "PERSON"))
    return out


def name_occurrences(text: str, names: set[str]) -> list[Span]:
    """Every other mention of names already found in the document (a name is tagged everywhere or nowhere)."""
    out: list[Span] = []
    korean = {n for n in names if _HANGUL_RUN.fullmatch(n)}
    lex = lexicon()
    # A known name may carry any particle or honorific (이순분은, 이순분님께): no morphology needed.
    tails = {"", *lex.cue("person", "ko_particles"), *lex.cue("person", "ko_suffix_attached")}
    if korean:
        lengths = sorted({len(n) for n in korean}, reverse=True)
        for m in _HANGUL_RUN.finditer(text):
            word = m.group(0)
            # look the word's prefixes up (a scan over every name per word is quadratic on long notes)
            size = next((k for k in lengths if k <= len(word) and word[:k] in korean and word[k:] in tails), None)
            if size is not None:
                out.append(Span(m.start(), m.start() + size, "PERSON"))
    english = sorted((n for n in names - korean if len(n) >= 4), key=len, reverse=True)
    if english:
        # str.find on the lower-cased note: a regex built from each note's names cost a compile per note
        lowered = text.lower()
        for name in english:
            needle, at = name.lower(), 0
            while (at := lowered.find(needle, at)) >= 0:
                end = at + len(needle)
                if not (at and lowered[at - 1].isascii() and lowered[at - 1].isalpha()) and not (
                    end < len(text) and lowered[end].isascii() and lowered[end].isalpha()
                ):
                    out.append(Span(at, end, "PERSON"))
                at = end
    return out
