"""The de-identifier: run every detector, settle overlaps, spread names and record numbers, replace."""

from __future__ import annotations

import bisect
import re
from functools import lru_cache
from typing import Literal

from dari.privacy.text.address import find_addresses
from dari.privacy.text.lexicon import Lexicon, lexicon
from dari.privacy.text.model import DeidResult, Span
from dari.privacy.text.names import find_english_names, find_korean_names, kiwi, name_occurrences
from dari.privacy.text.names_en import find_english_name_forms
from dari.privacy.text.patterns import (
    find_ages,
    find_dates,
    find_emails,
    find_mrns,
    find_phones,
    find_rrns,
    is_birth_date,
)
from dari.privacy.text.surrogate import SurrogateMap
from dari.privacy.text.tagger import PersonTagger, person_tagger

DetectMode = Literal["standard", "high-recall"]
DETECT_MODES: tuple[str, ...] = ("standard", "high-recall")
# In high-recall mode a word is a name when the tagger gives it this much probability, even off the best path.
HIGH_RECALL_MARGINAL = 0.15

_NOT_NAME_TAGS = frozenset({"NNG", "VV", "VA", "XR", "MAG", "NNB"})
_PARTICLE_SYLLABLES = frozenset("은는이가을를의와과도")
# When two findings overlap the more specific, better-validated one wins.
_PRIORITY = {"EMAIL": 0, "RRN": 1, "PHONE": 2, "MRN": 3, "ADDRESS": 4, "DATE": 5, "AGE": 6, "PERSON": 7}
# 홍길동 (12345678), 홍길동 님(12345678), Lee Wooho, 12345678, and [12345678] 홍길동 in a chart header
_MRN_AFTER_NAME = re.compile(r"(?:[ \t]*(?:님|씨))?[ \t]*(?:\(|,)[ \t]*(\d{6,12})[ \t]*[,)/]")
_MRN_BEFORE_NAME = re.compile(r"[\[(](\d{6,12})[\])][ \t]?$")


def _resolve(spans: list[Span]) -> list[Span]:
    """Non-overlapping spans: by label priority, then longer first; result in text order."""
    starts: list[int] = []  # kept spans never overlap, so sorted by start they are sorted by end too
    kept: list[Span] = []
    for span in sorted(set(spans), key=lambda s: (_PRIORITY[s.label], s.start - s.end, s.start)):
        i = bisect.bisect_left(starts, span.start)
        # only the neighbours can overlap (a scan over every kept span made 1 MB notes take minutes)
        if (i == 0 or kept[i - 1].end <= span.start) and (i == len(kept) or span.end <= kept[i].start):
            starts.insert(i, span.start)
            kept.insert(i, span)
    return kept


def _merge_names(spans: list[Span]) -> list[Span]:
    """Overlapping PERSON spans (rules and tagger) become one span covering both: for names recall wins."""
    names = sorted(s for s in spans if s.label == "PERSON")
    merged: list[Span] = []
    for s in names:
        if merged and s.start < merged[-1].end:
            last = merged.pop()
            s = Span(last.start, max(last.end, s.end), "PERSON")
        merged.append(s)
    return [s for s in spans if s.label != "PERSON"] + merged


def _covered(spans: list[Span]) -> tuple[list[int], list[int]]:
    """Rule name spans merged into disjoint (starts, ends), sorted: overlap tests by bisection, not a scan."""
    starts: list[int] = []
    ends: list[int] = []
    for s in sorted(spans):
        if ends and s.start < ends[-1]:
            ends[-1] = max(ends[-1], s.end)
        else:
            starts.append(s.start)
            ends.append(s.end)
    return starts, ends


def _supported(span: Span, starts: list[int], ends: list[int]) -> bool:
    """Whether a rule name span overlaps `span` (a scan over all made 1 MB notes quadratic)."""
    i = bisect.bisect_left(starts, span.end) - 1  # the last rule span starting before span ends
    return i >= 0 and ends[i] > span.start


def plausible_name(value: str) -> bool:
    """Whether a name the tagger found with no rule beside it survives the vocabulary checks.

    Dropped: Latin stretches made only of medical words (ICD-10's vocabulary: Atrial, Osteoporosis) and short
    abbreviations (GERD, AF); a Hangul word that Kiwi reads as one common noun (신장병, 이메일) or as a noun turned
    verb (유지됨: 유지 + 되 + ㅁ), or that is a common word plus a particle (이상이); a surname-like syllable
    followed by a word Kiwi reads as one common noun it knows (반 공기). Unknown words are NNG to Kiwi too, so only
    dictionary nouns count; and Kiwi's noun + particle reading alone is no veto: it reads most three-syllable
    names that way (이윤은 = 이윤 + 은).
    """
    lex = lexicon()
    latin = re.findall(r"[A-Za-z]{2,}", value)
    if latin and all(_not_a_name_word(w, lex) for w in latin):
        return False
    words = re.findall(r"[가-힣]+", value)
    if len(words) == 1 and len(words[0]) >= 3:
        word = words[0]
        morphs = _morphemes(word)
        if len(morphs) == 1 and morphs[0][0] == "NNG" and morphs[0][2]:
            return False  # a noun Kiwi knows; an unknown word (most names) is read as NNG too, but not known
        if len(morphs) >= 2 and morphs[0][0] in _NOT_NAME_TAGS and morphs[1][0] in ("XSV", "XSA"):
            return False
        return not (word[:-1] in lex.common_ko and word[-1] in _PARTICLE_SYLLABLES)
    if len(words) == 2 and len(words[0]) <= 2:
        morphs = _morphemes(words[1])
        return not (len(morphs) == 1 and morphs[0][0] in _NOT_NAME_TAGS and morphs[0][2])
    return True


def _not_a_name_word(word: str, lex: Lexicon) -> bool:
    if word.isupper() and len(word) <= 5 and word not in lex.roman_surnames_all:
        return True  # an abbreviation
    return word.lower() in lex.en_medical or word.title() in lex.en_not_names


@lru_cache(maxsize=100_000)
def _morphemes(word: str) -> tuple[tuple[str, int, bool], ...]:
    """Kiwi's (tag, length, in Kiwi's dictionary) per morpheme of a word (cached)."""
    return tuple((str(t.tag), int(t.len), int(t.id) != _unknown_id()) for t in kiwi().tokenize(word))


@lru_cache(maxsize=1)
def _unknown_id() -> int:
    """The morpheme id Kiwi gives words outside its dictionary (a string of rare syllables is one)."""
    return int(kiwi().tokenize("쀍뷁")[0].id)


def _mrn_occurrences(text: str, values: set[str]) -> list[Span]:
    wanted = {v for v in values if len(v) >= 6}
    if not wanted:
        return []
    # one pass over the text for all numbers (a pass per number is slow on long notes)
    words = re.finditer(r"(?<![\w\-])[A-Za-z]{0,2}-?\d{6,12}(?![\w\-])", text)
    return [Span(m.start(), m.end(), "MRN") for m in words if m.group() in wanted]


def detect(
    text: str, *, mode: DetectMode = "standard", tagger: PersonTagger | Literal[False] | None = None
) -> list[Span]:
    """All identifier spans in `text` (offsets into it), non-overlapping and in order.

    Names come from the rules and the shipped CRF tagger together (`tagger=False`: rules alone; a PersonTagger:
    that model); `mode="high-recall"` also takes words the tagger finds likely but not best.
    """
    if mode not in DETECT_MODES:
        raise ValueError(f"unknown detection mode {mode!r}; expected one of {', '.join(DETECT_MODES)}")
    found = [
        *find_emails(text),
        *find_rrns(text),
        *find_phones(text),
        *find_mrns(text),
        *find_addresses(text),
        *find_dates(text),
        *find_ages(text),
        *find_korean_names(text),
        *find_english_names(text),
        *find_english_name_forms(text),
    ]
    model = person_tagger() if tagger is None else tagger or None
    if model is not None:
        ruled = _covered([s for s in found if s.label == "PERSON"])
        learned = model.find(text, min_marginal=HIGH_RECALL_MARGINAL if mode == "high-recall" else None)
        found += [s for s in learned if _supported(s, *ruled) or plausible_name(text[s.start : s.end])]
        found = _merge_names(found)
    spans = _resolve(found)
    # A name found once is a name everywhere in the note (환자 서명: 이순분 after 환자명: 이순분).
    names = {text[s.start : s.end] for s in spans if s.label == "PERSON"}
    more = name_occurrences(text, names)
    # 환자 홍길동 (12345678): a bare number in brackets right after a patient's name is the chart number.
    for s in spans:
        if s.label == "PERSON" and (m := _MRN_AFTER_NAME.match(text, s.end)):
            more.append(Span(m.start(1), m.end(1), "MRN"))
        if s.label == "PERSON" and (m := _MRN_BEFORE_NAME.search(text, max(0, s.start - 16), s.start)):
            more.append(Span(m.start(1), m.end(1), "MRN"))
    spans = _resolve(spans + more)
    mrns = {text[s.start : s.end] for s in spans if s.label == "MRN"}
    return _resolve(spans + _mrn_occurrences(text, mrns))


def deidentify(text: str, *, surrogate: SurrogateMap | None = None, mode: DetectMode = "standard") -> DeidResult:
    """Find identifiers and replace each with a surrogate (if a SurrogateMap is given) or a [LABEL] tag."""
    spans = detect(text, mode=mode)
    parts: list[str] = []
    pos = 0
    for start, end, label in spans:
        parts.append(text[pos:start])
        if surrogate is None:
            parts.append(f"[{label}]")
        else:
            # A date of birth is written no finer than the policy keeps birth dates in the CDM (year, by default).
            kind = "BIRTH_DATE" if label == "DATE" and is_birth_date(text, start) else label
            parts.append(surrogate.replace(kind, text[start:end]))
        pos = end
    parts.append(text[pos:])
    return DeidResult(text="".join(parts), spans=spans)
