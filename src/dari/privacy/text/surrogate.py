"""Realistic, consistent surrogates: the same identifier under the same secret always gets the same stand-in."""

from __future__ import annotations

import hashlib
import hmac
import random
import re

from dari.errors import InputError
from dari.kr.gazetteer import load_gazetteer
from dari.kr.names import pooled_name
from dari.kr.phone import parse_phone
from dari.kr.rrn import parse_rrn, rrn_check_digit
from dari.privacy.text.dates import shift_date

_WEBMAIL = frozenset({"naver.com", "gmail.com", "daum.net", "hanmail.net", "kakao.com", "nate.com", "hotmail.com"})
_EN_ROADS = ("Sejong-daero", "Teheran-ro", "Hangang-daero", "Jongno", "Eulji-ro", "Dosan-daero", "Gwanak-ro")
_EN_GU = ("Jongno-gu", "Gangnam-gu", "Mapo-gu", "Seocho-gu", "Songpa-gu", "Nowon-gu", "Suyeong-gu")
_RRN_LIKE = re.compile(r"^(\d{6})(\D*)(\d)(.*)$")


class SurrogateMap:
    """Maps identifiers to surrogates, keyed with a secret so re-runs with the same secret agree.

    Dates are all moved by one secret offset, so intervals between them (length of stay) survive.
    """

    def __init__(self, secret: str | bytes, *, max_date_shift_days: int = 365) -> None:
        self._key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not self._key:
            raise InputError("the surrogate secret must not be empty")
        self._cache: dict[tuple[str, str], str] = {}
        shift = self._rng("DATE-SHIFT", "").randint(1, max(max_date_shift_days, 1))
        self.date_shift_days = shift if self._rng("DATE-SIGN", "").random() < 0.5 else -shift

    def _rng(self, label: str, key: str) -> random.Random:
        digest = hmac.new(self._key, f"{label}\x00{key}".encode(), hashlib.sha256).digest()
        return random.Random(int.from_bytes(digest[:16], "big"))

    def replace(self, label: str, value: str) -> str:
        """The surrogate for `value` of type `label` (memoised: the same value gives the same surrogate)."""
        key = _normalise(label, value)
        cached = self._cache.get((label, key))
        if cached is None:
            cached = self._make(label, value, self._rng(label, key))
            self._cache[(label, key)] = cached
        return _recase(cached, value) if label == "PERSON" else cached

    def _make(self, label: str, value: str, rng: random.Random) -> str:
        if label == "PERSON":
            return _person(value, rng)
        if label == "DATE":
            return shift_date(value, self.date_shift_days) or _digits_like(value, rng)
        if label == "RRN":
            return _rrn(value, rng, self.date_shift_days)
        if label == "PHONE":
            return _phone(value, rng)
        if label == "EMAIL":
            return _email(value, rng)
        if label == "ADDRESS":
            return _address(value, rng)
        if label == "AGE":
            return re.sub(r"^\d+", "90", value)  # Safe Harbor: every age over 89 becomes one category
        return _digits_like(value, rng)


def _normalise(label: str, value: str) -> str:
    if label == "PERSON":
        return re.sub(r"[\s\-.]", "", value).casefold()
    if label in ("PHONE", "MRN"):
        return re.sub(r"\D", "", value)
    return value.strip()


def _recase(surrogate: str, original: str) -> str:
    """Write an English surrogate the way the original was written (HAN JUNHU vs Han Junhu)."""
    return surrogate.upper() if original.isupper() else surrogate


def _person(value: str, rng: random.Random) -> str:
    korean = bool(re.search(r"[가-힣]", value))
    for _ in range(8):
        ko, en = pooled_name(rng.random() < 0.5, rng.random())
        candidate = ko if korean else en.title()
        if candidate != value:
            return candidate
    return candidate


def _digits_like(value: str, rng: random.Random) -> str:
    """Same shape, new digits (the first kept non-zero when it was)."""
    out = []
    for i, ch in enumerate(value):
        if ch.isdigit():
            out.append(str(rng.randint(1 if i == 0 and ch != "0" else 0, 9)))
        else:
            out.append(ch)
    return "".join(out)


def _rrn(value: str, rng: random.Random, shift: int) -> str:
    m = _RRN_LIKE.match(value)
    if m is None:
        return _digits_like(value, rng)
    front, sep, g, tail = m.groups()
    try:
        born = parse_rrn(front + g + "000000").birth_date
        moved = born.fromordinal(born.toordinal() + shift)
        front = moved.strftime("%y%m%d")
    except (InputError, ValueError, OverflowError):
        pass
    if not tail.isdigit():
        return f"{front}{sep}{g}{tail}"
    body = front + g + "".join(str(rng.randint(0, 9)) for _ in range(5))
    return f"{front}{sep}{body[6:]}{rrn_check_digit(body)}"


def _phone(value: str, rng: random.Random) -> str:
    try:
        parsed = parse_phone(value)
    except InputError:
        return _digits_like(value, rng)
    keep = len(parsed.prefix)
    if value.startswith("+82"):  # '82' replaces the trunk zero; '(0)' writes it back
        keep = 1 + len(parsed.prefix) + (1 if "(0)" in value else 0)
    out, seen = [], 0
    for ch in value:
        if ch.isdigit():
            seen += 1
            if seen > keep:
                ch = str(rng.randint(2, 9) if seen == keep + 1 else rng.randint(0, 9))
        out.append(ch)
    return "".join(out)


def _email(value: str, rng: random.Random) -> str:
    domain = value.rpartition("@")[2].lower()
    _, en = pooled_name(rng.random() < 0.5, rng.random())
    surname, _, given = en.lower().partition(" ")
    return f"{given}.{surname}{rng.randint(1, 99)}@{domain if domain in _WEBMAIL else 'example.com'}"


def _address(value: str, rng: random.Random) -> str:
    if not re.search(r"[가-힣]", value):
        return f"{rng.randint(1, 300)} {rng.choice(_EN_ROADS)}, {rng.choice(_EN_GU)}, Seoul"
    g = load_gazetteer()
    i = rng.randrange(g.sigungu.shape[0])
    prefix = str(g.sigungu_prefix[i])
    if not re.search(r"[로길][ ]?\d", value):  # 지번 (lot) address: 동 and lot number
        dong = str(g.dongs[g.dong_start[i] + rng.randrange(int(g.dong_count[i]))])
        return f"{prefix} {dong} {rng.randint(1, 1500)}-{rng.randint(1, 40)}"
    road = str(g.roads[g.road_start[i] + rng.randrange(int(g.road_count[i]))])
    detail = f", {rng.randint(101, 115)}동 {rng.randint(1, 25)}0{rng.randint(1, 4)}호" if "호" in value else ""
    return f"{prefix} {road} {rng.randint(1, 300)}{detail}"
