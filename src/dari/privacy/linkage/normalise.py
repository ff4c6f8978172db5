"""Normalisation before linkage: names (NFC, jamo, romanisation variants), RRN digits, dates, sex.

Both hospitals must normalise identically or equal people get unequal tokens, so every rule lives here once.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from dari.errors import InputError
from dari.kr.romanize import romanize_name
from dari.kr.rrn import parse_rrn

RrnStatus = Literal["valid", "missing", "invalid"]

# Numbers issued from October 2020 have a random tail (no check digit), so the checksum only binds older ones.
_RANDOM_TAIL_FROM = dt.date(2020, 10, 1)

# Passport and everyday spellings of common surnames, mapped to the spelling in dari's surname table.
SURNAME_VARIANTS: dict[str, str] = {
    "YI": "LEE", "RHEE": "LEE", "RI": "LEE", "LI": "LEE", "RHIE": "LEE", "REE": "LEE",
    "BAK": "PARK", "PAK": "PARK", "BARK": "PARK", "PAIK": "BAEK", "BAIK": "BAEK", "BACK": "BAEK",
    "GIM": "KIM", "KIMM": "KIM", "CHOE": "CHOI", "CHOY": "CHOI", "CHEY": "CHOI",
    "JUNG": "JEONG", "CHUNG": "JEONG", "JEUNG": "JEONG", "CHEONG": "JEONG",
    "JO": "CHO", "JOE": "CHO", "CHOH": "CHO", "YUN": "YOON", "YOUN": "YOON",
    "IM": "LIM", "YIM": "LIM", "RIM": "LIM", "SIN": "SHIN", "AN": "AHN", "GANG": "KANG",
    "O": "OH", "YU": "YOO", "RYOO": "RYU", "YOU": "YOO", "GO": "KO", "KOH": "KO",
    "MUN": "MOON", "NO": "NOH", "ROH": "NOH", "JU": "JOO", "CHOO": "CHOO", "WU": "WOO", "GU": "KOO", "KU": "KOO",
    "HEO": "HEO", "HUH": "HEO", "HUR": "HEO", "SEO": "SEO", "SUH": "SEO", "SUR": "SEO",
    "GWON": "KWON", "KWEON": "KWON", "GWAK": "KWAK", "KUAK": "KWAK", "SEONG": "SUNG", "SUNG": "SUNG",
    "JEON": "JEON", "JUN": "JEON", "CHUN": "CHEON", "JANG": "JANG", "CHANG": "JANG", "HAN": "HAN",
    "BYEON": "BYUN", "PYUN": "BYUN", "HYEON": "HYUN", "HYUN": "HYUN", "EOM": "EOM", "UM": "EOM", "OM": "EOM",
    "GONG": "KONG", "GI": "KI", "KEE": "KI", "GEUM": "KEUM", "GUM": "KEUM", "YUK": "YOOK", "GUK": "KOOK",
    "MYEONG": "MYUNG", "SEON": "SUN", "SEOK": "SEOK", "SUK": "SEOK", "CHAI": "CHAE",
}  # fmt: skip

# Spelling habits inside romanised given names (McCune-Reischauer leftovers, doubled vowels), folded to RR.
_GIVEN_FOLDS: tuple[tuple[str, str], ...] = (
    ("YOUNG", "YEONG"), ("YEUNG", "YEONG"), ("OO", "U"), ("EE", "I"), ("OU", "U"),
)  # fmt: skip
_NOT_LETTER = re.compile(r"[^A-Z]")
_NOT_DIGIT = re.compile(r"\D")
_SPACE = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """NFC-compose and drop all whitespace, so '김 민준', '김민준' and a decomposed 김민준 agree."""
    return _SPACE.sub("", unicodedata.normalize("NFC", name))


def jamo(name: str) -> str:
    """The name as conjoining jamo (Unicode NFD), so a one-letter typo changes one symbol, not a syllable."""
    return unicodedata.normalize("NFD", normalise_name(name))


def canonical_roman(name_en: str) -> str:
    """'SURNAME GIVEN' upper-cased, surname spelling unified (YI/RHEE→LEE, BAK→PARK), given name letters only."""
    parts = unicodedata.normalize("NFKC", name_en).upper().split()
    if not parts:
        return ""
    surname = _NOT_LETTER.sub("", parts[0])
    surname = SURNAME_VARIANTS.get(surname, surname)
    given = _NOT_LETTER.sub("", "".join(parts[1:]))
    for old, new in _GIVEN_FOLDS:
        given = given.replace(old, new)
    return f"{surname} {given}" if given else surname


def roman_of(name_ko: str) -> str:
    """Passport-style romanisation of a Korean name, split after the first syllable (the usual surname)."""
    name = normalise_name(name_ko)
    return f"{romanize_name(name[:1])} {romanize_name(name[1:])}".strip()


def rrn_digits(text: str | None) -> tuple[str | None, RrnStatus]:
    """Digits of a 주민등록번호 and whether it is usable: 13 digits, a real date, a valid check digit if pre-2020-10."""
    if text is None or not text.strip():
        return None, "missing"
    digits = _NOT_DIGIT.sub("", text)
    if len(digits) != 13:
        return None, "invalid"
    try:
        parsed = parse_rrn(digits)
    except InputError:
        return None, "invalid"
    # A failed checksum on an old-style number is almost always a typo; a token from it would match nobody.
    if not parsed.check_digit_valid and parsed.birth_date < _RANDOM_TAIL_FROM:
        return None, "invalid"
    return digits, "valid"


def parse_sex(value: Any) -> str | None:
    """'M'/'F' from M/F, 남/여, male/female or OMOP 8507/8532; None when absent or unknown."""
    if value is None:
        return None
    text = str(value).strip().upper()
    return {"M": "M", "F": "F", "남": "M", "여": "F", "MALE": "M", "FEMALE": "F", "8507": "M", "8532": "F"}.get(text)


def parse_date(value: Any) -> dt.date | None:
    """A date from a date object or 'YYYY-MM-DD' / 'YYYYMMDD' / 'YYYY.MM.DD' text; None when empty; else ValueError."""
    if value is None or isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not text:
        return None
    digits = _NOT_DIGIT.sub("", text)
    if len(digits) != 8:
        raise ValueError(f"not a date: {text!r}")
    return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


@dataclass(frozen=True)
class Records:
    """Identity columns as Python lists, the only shape the token functions read."""

    name: list[str | None]
    rrn: list[str | None]
    birth_date: list[dt.date | None]
    sex: list[str | None]
    name_en: list[str | None]
    sigungu: list[str | None]

    def __len__(self) -> int:
        return len(self.name)


def _pick(table: pa.Table, names: Sequence[str], *, required: bool) -> list[Any]:
    for name in names:
        if name in table.column_names:
            return list(table.column(name).to_pylist())
    if required:
        raise InputError(f"missing identity column (one of {', '.join(names)})", column=names[0])
    return [None] * table.num_rows


def records_of(table: pa.Table) -> Records:
    """Read name (or name_ko), rrn, birth_date, sex and optional name_en, sigungu from an identity table."""
    dates = []
    for i, value in enumerate(_pick(table, ["birth_date"], required=True)):
        try:
            dates.append(parse_date(value))
        except ValueError as exc:
            raise InputError(str(exc), row=i + 1, column="birth_date") from exc
    return Records(
        name=_pick(table, ["name", "name_ko"], required=True),
        rrn=_pick(table, ["rrn"], required=True),
        birth_date=dates,
        sex=[parse_sex(v) for v in _pick(table, ["sex"], required=True)],
        name_en=_pick(table, ["name_en"], required=False),
        sigungu=_pick(table, ["sigungu"], required=False),
    )
