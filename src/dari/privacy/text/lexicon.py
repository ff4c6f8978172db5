"""Lexicons and cue lists the rules use, loaded once from data files and the shipped gazetteer."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dari.kr.gazetteer import load_gazetteer, load_name_tables

DATA = Path(__file__).resolve().parent / "data"

# Revised-Romanisation syllables, loosely: lets 'Gyeongja' or 'Jun-hu' pass as a Korean given name
# while ordinary English words mostly do not.
ROMAN_SYLLABLE = (
    r"(?:g|kk|n|d|tt|r|l|m|b|pp|s|ss|j|jj|ch|k|t|p|h|c|sh|y|w)?"
    r"(?:yae|yeo|wae|ae|ya|eo|ye|wa|oe|yo|wo|we|wi|yu|eu|ui|oo|ee|ou|a|e|o|u|i)"
    r"(?:ng|n|m|l|k|p|t|b|g)?"
)
ROMAN_GIVEN = re.compile(rf"(?:{ROMAN_SYLLABLE})(?:-?{ROMAN_SYLLABLE})?", re.IGNORECASE)
# Romanised surnames that are also everyday English words: never a name without a cue.
_ENGLISH_WORD_SURNAMES = frozenset(
    {"IN", "DO", "SO", "MA", "HA", "NA", "OH", "OK", "BAN", "BANG", "GIL", "WON", "SON", "MOON", "SONG", "SUN", "MIN"}
)
# Spellings in everyday use beside the official romanisation (정 Jung, 전 Chun, 서 Suh, 윤 Yun, 임 Im, 노 Roh).
_VARIANT_SURNAMES = frozenset(
    {"JUNG", "JOUNG", "CHUN", "JUN", "SUH", "YUN", "YU", "IM", "RIM", "ROH", "RHO", "NOH", "KHANG", "CHOY", "RYOO"}
)


def _cue_words(cues: dict[str, dict[str, list[str]]]) -> frozenset[str]:
    person = cues["person"]
    words = [*person["ko_strong"], *person["ko_weak"], *person["ko_field"], *cues["mrn"]["cues"]]
    return frozenset(w for w in words if re.fullmatch(r"[가-힣]{2,}", w))


def _lines(name: str) -> list[str]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [s.strip() for s in text.splitlines() if s.strip() and not s.startswith("#")]


@dataclass(frozen=True)
class Lexicon:
    """Everything the detectors look up."""

    cues: dict[str, dict[str, list[str]]]
    surnames: tuple[str, ...]  # longest first so 남궁 wins over 남
    roman_surnames: frozenset[str]  # upper case, excluding English words
    roman_surnames_all: frozenset[str]  # upper case, English words (Oh, Song, Moon) too: for unambiguous forms
    common_ko: frozenset[str]
    en_not_names: frozenset[str]
    en_medical: frozenset[str]  # lower case: ICD-10 description words that are not in the name lexicons
    sido_names: tuple[str, ...]
    sigungu_names: tuple[str, ...]

    def cue(self, section: str, key: str) -> list[str]:
        """A cue list from cues.toml."""
        return self.cues[section][key]


@cache
def lexicon() -> Lexicon:
    """Load (once) the cue lists, word lists, surnames and gazetteer place names."""
    with (DATA / "cues.toml").open("rb") as fh:
        cues = tomllib.load(fh)
    tables = load_name_tables()
    surnames = sorted((str(s) for s in tables.surnames), key=len, reverse=True)
    roman = {str(r).upper() for r in tables.surname_roman} | {"LEE", "YI", "RHEE", "PAK", "KOH", "CHUNG", "CHOE"}
    roman |= _VARIANT_SURNAMES
    gaz = load_gazetteer()
    sido = {str(s) for s in gaz.sido} | {str(s) for s in gaz.sido_short} | set(cues["address"]["sido_aliases"])
    sigungu = {part for s in gaz.sigungu for part in str(s).split() if part}
    return Lexicon(
        cues=cues,
        surnames=tuple(surnames),
        roman_surnames=frozenset(roman - _ENGLISH_WORD_SURNAMES),
        roman_surnames_all=frozenset(roman | _ENGLISH_WORD_SURNAMES),
        # the cue words themselves (기록자, 보호자, 판독의) are never names either
        common_ko=frozenset(_lines("ko_common_words.txt")) | _cue_words(cues),
        en_not_names=frozenset(_lines("en_not_names.txt")),
        en_medical=frozenset(_lines("en_medical_words.txt")),
        sido_names=tuple(sorted(sido, key=len, reverse=True)),
        sigungu_names=tuple(sorted(sigungu, key=len, reverse=True)),
    )


class _Node(dict[str, "_Node"]):
    """A node of a character trie."""


def trie_alternation(words: list[str] | tuple[str, ...]) -> str:
    """The same language as `alternation`, factored by common prefixes (서울(?:특별시)?|부산…): Python's re tries
    every branch of a flat alternation at every position, which made the gazetteer pattern slow. A greedy optional
    tail tries the longer word first, so the longest word still wins. Case-sensitive use only."""
    trie = _Node()
    for word in set(words):
        node = trie
        for ch in word:
            node = node.setdefault(ch, _Node())
        node[""] = _Node()  # the word ends here

    def build(node: _Node) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and len(branches[0]) == 1 else f"(?:{'|'.join(branches)})"
        return f"{body}?" if "" in node else body

    return build(trie)


def alternation(words: list[str] | tuple[str, ...]) -> str:
    """A regex alternation of literal words, longest first so the longest cue wins."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
