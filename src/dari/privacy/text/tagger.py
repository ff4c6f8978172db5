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
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from dari.kr.gazetteer import load_name_tables
from dari.privacy.text.lexicon import DATA, ROMAN_GIVEN, lexicon
from dari.privacy.text.model import Span

MODEL_PATH = DATA / "person_tagger.crfsuite"
LINE_CACHE = 50_000  # lines whose tags are remembered (a few MB)
_TOKEN = re.compile(r"[가-힣]+|[A-Za-z]+(?:['’\-][A-Za-z]+)*|\d+|\S")
_KO = re.compile(r"[가-힣]+")
FeatureList = list[str]


class Token(NamedTuple):
    """One token of a line: its text and offsets into the note (a tuple: notes make millions of them)."""

    text: str
    start: int
    end: int


def _line_tokens(line: str, offset: int = 0) -> list[Token]:
    return [Token(m.group(), offset + m.start(), offset + m.end()) for m in _TOKEN.finditer(line)]


def tokenize(text: str) -> Iterator[list[Token]]:
    """The note's lines as token lists (empty lines skipped); offsets are into `text`."""
    pos = 0
    for line in text.split("\n"):
        tokens = _line_tokens(line, pos)
        if tokens:
            yield tokens
        pos += len(line) + 1


@lru_cache(maxsize=200_000)
def is_candidate(word: str) -> bool:
    """Whether a token could be part of a name: a Hangul word starting with a surname, or a capitalised Latin
    word that is not a short all-capital abbreviation (ALT, CT) unless a name list holds it (LEE, ANN)."""
    lx = lexicons()
    if _KO.fullmatch(word):
        return len(word) <= 9 and (word[:1] in lx["one"] or word[:2] in lx["two"]) and word not in lx["common_ko"]
    if not (word[:1].isascii() and word[:1].isupper()):
        return False
    if len(word) <= 3 and word.isupper():
        t = word.title()
        return word in lx["roman"] or word in lx["roman_all"] or t in lx["en_given"] or t in lx["en_surnames"]
    return len(word) >= 2


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
        "roman_all": lex.roman_surnames_all,
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
def kiwi_first(word: str) -> tuple[str, int]:
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
                tag, length = kiwi_first(word)
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


@lru_cache(maxsize=200_000)
def _own_features(word: str) -> tuple[str, ...]:
    return ("bias", *_word_features(word))


@lru_cache(maxsize=200_000)
def _far_feature(word: str, d: int) -> str:
    return f"w[{d}]={_context_word(word)}"


_POS = tuple(f"pos={i}" for i in range(6))
_GAP_BEFORE = tuple(f"gap[-1]={g}" for g in range(3))
_GAP_AFTER = tuple(f"gap[1]={g}" for g in range(3))


def line_features(tokens: Sequence[Token], text: str, *, context: bool = True) -> list[FeatureList]:
    """CRFsuite feature lists, one per token of a line; `context=False` leaves out the neighbours (augmentation).

    The strings are built from per-word caches: this runs for every line of every note.
    """
    words = [t.text for t in tokens]
    n = len(tokens)
    out: list[FeatureList] = []
    for i, tok in enumerate(tokens):
        f = [*_own_features(words[i]), _POS[i if i < 5 else 5]]
        if i == n - 1:
            f.append("eol")
        if context:
            f.append(_far_feature(words[i - 2], -2) if i >= 2 else "w[-2]=<edge>")
            f.append(_far_feature(words[i + 2], 2) if i + 2 < n else "w[2]=<edge>")
            if i >= 1:
                f += _neighbour_features(words[i - 1], -1)
                gap = tok.start - tokens[i - 1].end
                f.append(_GAP_BEFORE[gap if gap < 2 else 2])
                if words[i - 1] in (":", "："):
                    f.append(f"afterfield={_context_word(words[i - 2]) if i >= 2 else '<edge>'}")
            else:
                f.append("w[-1]=<edge>")
            if i + 1 < n:
                f += _neighbour_features(words[i + 1], 1)
                gap = tokens[i + 1].start - tok.end
                f.append(_GAP_AFTER[gap if gap < 2 else 2])
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


@lru_cache(maxsize=100_000)
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
        self._lines: dict[tuple[str, float | None], tuple[tuple[int, int], ...]] = {}

    def find(self, text: str, *, min_marginal: float | None = None) -> list[Span]:
        """PERSON spans: the Viterbi path, or every token whose B/I marginal reaches `min_marginal` (recall mode).

        A line is tagged only when one of its tokens could be part of a name (`is_candidate`), and the result of
        a line is remembered for the next identical line (headers, footers, copied lab blocks repeat in notes).
        """
        out: list[Span] = []
        cache = self._lines
        pos = 0
        for line in text.split("\n"):
            key = (line, min_marginal)
            found = cache.get(key)
            if found is None:
                found = self._find_line(line, min_marginal)
                if len(cache) >= LINE_CACHE:
                    cache.pop(next(iter(cache)))  # the oldest line: bounded memory on long runs
                cache[key] = found
            out.extend(Span(pos + a, pos + b, "PERSON") for a, b in found)
            pos += len(line) + 1
        return out

    def forget_lines(self) -> None:
        """Empty the memory of tagged lines (for timing on unseen notes, or to free memory)."""
        self._lines.clear()

    def _find_line(self, line: str, min_marginal: float | None) -> tuple[tuple[int, int], ...]:
        """PERSON spans of one line, offsets into the line (a line's tags depend on the line alone)."""
        tokens = _line_tokens(line)
        if not any(is_candidate(t.text) for t in tokens):
            return ()
        tagger = self._tagger
        tags = tagger.tag(line_features(tokens, line))
        if min_marginal is not None:
            tags = [
                tag
                if tag != "O"
                else "I-PERSON"
                if tagger.marginal("B-PERSON", i) + tagger.marginal("I-PERSON", i) >= min_marginal
                else "O"
                for i, tag in enumerate(tags)
            ]
        return tuple((s.start, s.end) for span in _spans_from_tags(tokens, tags) for s in clean_span(line, span))


@cache
def person_tagger() -> PersonTagger | None:
    """The process-wide tagger, or None when no model file ships (the rules then work alone)."""
    if not MODEL_PATH.is_file():
        return None
    return PersonTagger(MODEL_PATH)
