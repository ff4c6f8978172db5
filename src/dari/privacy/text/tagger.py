"""A learned person-name tagger (linear-chain CRF, python-crfsuite) beside the rules.

Each line of a note is one sequence of tokens: Hangul runs, Latin words (with inner ' and -), digit runs and single
symbols. Features are the token's shape, surname and given-name lexicons (Korean surnames and given-syllable
statistics from dari.kr, English given names and surnames from names-dataset), Kiwi's tag of a Hangul word's first
morpheme, an attached honorific or particle, capitalisation, the position in the line and the neighbouring words
(cue words such as 환자명, 보호자, Dr, by, with). Labels are B-PERSON / I-PERSON / O. The model ships in
`data/person_tagger.crfsuite` (CRFsuite's own binary format, no pickle) and is trained by
`scripts/train_deid_tagger.py`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from dari.kr.gazetteer import load_name_tables
from dari.privacy.text.lexicon import DATA, ROMAN_GIVEN, lexicon
from dari.privacy.text.model import Span

MODEL_PATH = DATA / "person_tagger.crfsuite"
_TOKEN = re.compile(r"[가-힣]+|[A-Za-z]+(?:['’\-][A-Za-z]+)*|\d+|\S")
_KO = re.compile(r"[가-힣]+")
FeatureList = list[str]


@dataclass(frozen=True)
class Token:
    """One token of a line: its text and offsets into the note."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> Iterator[list[Token]]:
    """The note's lines as token lists (empty lines skipped); offsets are into `text`."""
    pos = 0
    for line in text.split("\n"):
        tokens = [Token(m.group(), pos + m.start(), pos + m.end()) for m in _TOKEN.finditer(line)]
        if tokens:
            yield tokens
        pos += len(line) + 1


@cache
def lexicons() -> dict[str, Any]:
    """Lexicons the features look up (and the training augmentation draws from), loaded once."""
    lex = lexicon()
    tables = load_name_tables()
    syllable_p: dict[str, float] = {}
    for pool in tables.pools.values():
        for s, p in zip(pool.syllables, pool.probs, strict=True):
            syllable_p[str(s)] = max(syllable_p.get(str(s), 0.0), float(p))

    def words(name: str) -> frozenset[str]:
        lines = (DATA / name).read_text(encoding="utf-8").splitlines()
        return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))

    suffixes = sorted(
        {*lex.cue("person", "ko_suffix_attached"), *lex.cue("person", "ko_particles")}, key=len, reverse=True
    )
    return {
        "one": frozenset(s for s in lex.surnames if len(s) == 1),
        "two": frozenset(s for s in lex.surnames if len(s) == 2),
        "syllable_p": syllable_p,
        "en_given": words("en_given_names.txt"),
        "en_surnames": words("en_surnames.txt"),
        "en_given_list": sorted(words("en_given_names.txt")),
        "en_surname_list": sorted(words("en_surnames.txt")),
        "given_syllables": (sorted(syllable_p), [syllable_p[s] for s in sorted(syllable_p)]),
        "roman": lex.roman_surnames,
        "not_names": lex.en_not_names,
        "common_ko": lex.common_ko,
        "suffixes": tuple(suffixes),
        "honorifics": frozenset(lex.cue("person", "ko_suffix_attached")),
    }


@lru_cache(maxsize=200_000)
def _context_word(word: str) -> str:
    if _KO.fullmatch(word):
        return word if len(word) <= 6 else word[:6]
    if word.isdigit():
        return "<num>"
    return word.lower()


@lru_cache(maxsize=200_000)
def _kiwi_first(word: str) -> tuple[str, int]:
    """Kiwi's tag and length of the first morpheme of a Hangul word (cached: common words repeat)."""
    from dari.privacy.text.names import kiwi

    tokens = kiwi().tokenize(word)
    return (str(tokens[0].tag), int(tokens[0].len)) if tokens else ("", 0)


def _syllable_bucket(p: float) -> str:
    return "0" if p <= 0 else str(min(6, int(-math.log10(p))))


@lru_cache(maxsize=200_000)
def _word_features(word: str) -> tuple[str, ...]:
    """Features of a token by itself (cached per distinct word)."""
    lx = lexicons()
    f: list[str] = []
    if _KO.fullmatch(word):
        f += ["ko", f"len={min(len(word), 7)}", f"w={word}" if len(word) <= 4 else "w=long", f"last={word[-1]}"]
        stem = word
        for suffix in lx["suffixes"]:
            if word.endswith(suffix) and len(word) - len(suffix) >= 2:
                f.append(f"suf={suffix}")
                if suffix in lx["honorifics"] or len(word) - len(suffix) == 3:
                    stem = word[: -len(suffix)]
                break
        f.append(f"stemlen={min(len(stem), 6)}")
        two = stem[:2] in lx["two"] and len(stem) >= 3
        one = stem[:1] in lx["one"]
        if two or one:
            given = stem[2:] if two else stem[1:]
            f.append("sur2" if two else "sur1")
            if 1 <= len(given) <= 2:
                f.append(f"glen={len(given)}")
                buckets = [_syllable_bucket(lx["syllable_p"].get(s, 0.0)) for s in given]
                f += [f"gp{i}={b}" for i, b in enumerate(buckets)]
                f.append(
                    "gall" if all(b != "0" for b in buckets) else "gsome" if any(b != "0" for b in buckets) else "gnone"
                )
            if stem in lx["common_ko"] or word in lx["common_ko"]:
                f.append("common")
            if len(stem) <= 5:
                tag, length = _kiwi_first(word)
                f += [f"kiwi={tag}", f"kiwicover={min(length, 4)}-{len(stem)}"]
    elif word[:1].isascii() and word[:1].isalpha():
        low = word.lower()
        f += ["en", f"w={low}", f"len={min(len(word), 10)}"]
        f.append("title" if word[0].isupper() and word[1:].islower() else "upper" if word.isupper() else
                 "lower" if word.islower() else "mixed")  # fmt: skip
        t = word.title()
        if t in lx["en_given"]:
            f.append("given")
        if t in lx["en_surnames"]:
            f.append("surname")
        if word.upper() in lx["roman"]:
            f.append("rsur")
        if ROMAN_GIVEN.fullmatch(word.replace("-", "")) is not None:
            f.append("rgiven")
        if t in lx["not_names"] or word in lx["not_names"]:
            f.append("notname")
        if "-" in word:
            f.append("hyphen")
    elif word.isdigit():
        f += ["num", f"numlen={min(len(word), 9)}"]
    else:
        f += ["sym", f"w={word}"]
    return tuple(f)


@lru_cache(maxsize=200_000)
def _neighbour_features(word: str, d: int) -> tuple[str, ...]:
    """A neighbour's own features seen from a token `d` positions away, without its identity (cached)."""
    skip = ("w=", "last=", "gp", "len=", "kiwicover")
    return (f"w[{d}]={_context_word(word)}", *(f"[{d}]{x}" for x in _word_features(word) if not x.startswith(skip)))


def line_features(tokens: Sequence[Token], text: str, *, context: bool = True) -> list[FeatureList]:
    """CRFsuite feature lists, one per token of a line; `context=False` leaves out the neighbours (augmentation)."""
    words = [t.text for t in tokens]
    n = len(tokens)
    out: list[FeatureList] = []
    for i, tok in enumerate(tokens):
        f = ["bias", *_word_features(tok.text), f"pos={min(i, 5)}"]
        if i == n - 1:
            f.append("eol")
        if context:
            f.append(f"w[-2]={_context_word(words[i - 2])}" if i >= 2 else "w[-2]=<edge>")
            f.append(f"w[2]={_context_word(words[i + 2])}" if i + 2 < n else "w[2]=<edge>")
            if i >= 1:
                f += _neighbour_features(words[i - 1], -1)
                f.append(f"gap[-1]={min(tok.start - tokens[i - 1].end, 2)}")
                if words[i - 1] in (":", "："):
                    f.append(f"afterfield={_context_word(words[i - 2]) if i >= 2 else '<edge>'}")
            else:
                f.append("w[-1]=<edge>")
            if i + 1 < n:
                f += _neighbour_features(words[i + 1], 1)
                f.append(f"gap[1]={min(tokens[i + 1].start - tok.end, 2)}")
            else:
                f.append("w[1]=<edge>")
        out.append(f)
    return out


def bio_labels(tokens: Sequence[Token], gold: Sequence[Span]) -> list[str]:
    """B-PERSON / I-PERSON / O for each token from gold spans (a token overlapping a name is part of it)."""
    names = sorted((s.start, s.end) for s in gold if s.label == "PERSON")
    labels = []
    prev: tuple[int, int] | None = None
    for tok in tokens:
        hit = next(((s, e) for s, e in names if s < tok.end and tok.start < e), None)
        if hit is None:
            labels.append("O")
        else:
            labels.append("I-PERSON" if hit == prev else "B-PERSON")
        prev = hit
    return labels


def _trim_stem(word: str) -> int:
    """Length of the name inside a tagged Hangul word (홍길동님 -> 3); the whole word when nothing is attached."""
    lx = lexicons()
    for suffix in lx["suffixes"]:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            if suffix in lx["honorifics"] or len(word) - len(suffix) == 3:
                return len(word) - len(suffix)
            break
    return len(word)


def _spans_from_tags(tokens: Sequence[Token], tags: Sequence[str]) -> list[Span]:
    out: list[Span] = []
    start = end = -1
    last: Token | None = None
    for tok, tag in zip(tokens, tags, strict=True):
        is_name_token = tok.text[:1].isalpha()  # a span never starts or ends on a comma or digit
        if tag == "B-PERSON" or (tag == "I-PERSON" and start < 0):
            if start >= 0 and last is not None:
                out.append(_finish(start, last))
            start, last = (tok.start, tok) if is_name_token else (-1, None)
        elif tag == "I-PERSON":
            if is_name_token:
                last = tok
        else:
            if start >= 0 and last is not None:
                out.append(_finish(start, last))
            start, last = -1, None
        end = tok.end
    if start >= 0 and last is not None:
        out.append(_finish(start, last))
    del end
    return out


def _finish(start: int, last: Token) -> Span:
    if _KO.fullmatch(last.text):
        return Span(start, last.start + _trim_stem(last.text), "PERSON")
    return Span(start, last.end, "PERSON")


# Parkinson disease, Alzheimer dementia, Cushing's syndrome, Cushingoid: an eponym, not a person in the note
_EPONYM_USE = re.compile(
    r"(?:'s|oid)?[ ]?(?:disease|syndrome|dementia|sign|test|reflex|criteria|score|classification|fracture|palsy"
    r"|procedure|operation|phenomenon|law|type|tumou?r|cyst|ulcer|hernia)\b|(?:'s|oid)?[;,]?[ ](?:[A-Z][a-z]+[ ])?"
    r"(?:disease|syndrome|dementia)\b",
    re.IGNORECASE,
)
_NAME_PARTICLES = frozenset(
    {"van", "von", "de", "da", "di", "du", "del", "della", "der", "le", "la", "bin", "binti", "al"}
)
_PIECE = re.compile(r"[가-힣]+|[A-Za-z]+(?:['’\-][A-Za-z]+)*\.?")


def clean_span(text: str, span: Span) -> list[Span]:
    """A tagged stretch cut to its name parts: split where the script changes or at a wide gap, and with words
    that are never names (RN, MD, Page, Surgeon …) and punctuation dropped from either end of each part."""
    not_names = lexicons()["not_names"]
    parts: list[list[tuple[int, int]]] = [[]]
    prev_end, prev_ko = -1, None
    for m in _PIECE.finditer(text, span.start, span.end):
        word = m.group().rstrip(".")
        is_ko = word[:1] >= "가"
        # a lower-case Latin word (see, a, with) is never part of a name in English notes, bar van/de/bin …
        lower = not is_ko and word.islower() and word not in _NAME_PARTICLES
        if lower or word in not_names or word.title() in not_names or _EPONYM_USE.match(text, m.end()):
            parts.append([])
            prev_end, prev_ko = -1, None
            continue
        if parts[-1] and (is_ko != prev_ko or m.start() - prev_end > 2 or "\n" in text[prev_end : m.start()]):
            parts.append([])
        parts[-1].append((m.start(), m.start() + len(word)))
        prev_end, prev_ko = m.start() + len(word), is_ko
    out = []
    lx = lexicons()
    for part in parts:
        hangul = [text[a:b] for a, b in part if _KO.fullmatch(text[a:b])]
        if len(hangul) > 1:
            # only 홍 길동 (a surname, a space, one or two given syllables) spans two Hangul words; otherwise keep
            # the first word when it is a whole name by itself (서울 거주 is no name; 김성찬 환자 keeps 김성찬)
            surname_alone = hangul[0] in lx["one"] or hangul[0] in lx["two"]
            spaced = len(hangul) == 2 and surname_alone and _trim_stem(hangul[1]) <= 2
            if not spaced:
                first = hangul[0][: _trim_stem(hangul[0])]
                part = part[:1] if len(first) >= 3 and first not in lx["common_ko"] else []
        if part and not any(_KO.fullmatch(text[a:b]) or b - a >= 2 for a, b in part):
            part = []  # a lone initial (the H flag of a lab line) is no name
        if part:
            start, (last_start, end) = part[0][0], part[-1]
            if _KO.fullmatch(text[last_start:end]):  # 홍길동님 -> 홍길동
                end = last_start + _trim_stem(text[last_start:end])
            out.append(Span(start, end, "PERSON"))
    return out


class PersonTagger:
    """The shipped CRF model, opened once; `find` gives PERSON spans of a note."""

    def __init__(self, path: Path = MODEL_PATH) -> None:
        import pycrfsuite

        if not path.is_file():
            raise FileNotFoundError(f"tagger model not found: {path}")
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(path))

    def find(self, text: str, *, min_marginal: float | None = None) -> list[Span]:
        """PERSON spans: the Viterbi path, or every token whose B/I marginal reaches `min_marginal` (recall mode)."""
        out: list[Span] = []
        tagger = self._tagger
        for tokens in tokenize(text):
            if not any(t.text[:1].isalpha() for t in tokens):
                continue
            tags = tagger.tag(line_features(tokens, text))
            if min_marginal is not None:
                tags = [
                    tag
                    if tag != "O"
                    else "I-PERSON"
                    if tagger.marginal("B-PERSON", i) + tagger.marginal("I-PERSON", i) >= min_marginal
                    else "O"
                    for i, tag in enumerate(tags)
                ]
            for span in _spans_from_tags(tokens, tags):
                out.extend(clean_span(text, span))
        return out


@cache
def person_tagger() -> PersonTagger | None:
    """The process-wide tagger, or None when no model file ships (the rules then work alone)."""
    if not MODEL_PATH.is_file():
        return None
    return PersonTagger(MODEL_PATH)
