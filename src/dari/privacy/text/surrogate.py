"""Realistic surrogates that carry nothing of the real identifier: keyed draws, consistent within a person's notes."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import re

from dari.errors import InputError
from dari.kr.gazetteer import load_gazetteer
from dari.kr.names import pooled_name
from dari.kr.phone import AREA_CODES, parse_phone
from dari.kr.rrn import parse_rrn, rrn_check_digit
from dari.privacy.text.dates import Precision, generalise_date, shift_date

_WEBMAIL = ("naver.com", "gmail.com", "daum.net", "hanmail.net", "kakao.com", "nate.com", "hotmail.com")
_AREA_CODES = tuple(sorted(set(AREA_CODES.values())))
_RRN_FIRST = dt.date(1930, 1, 1)
_RRN_DAYS = (dt.date(2009, 12, 31) - _RRN_FIRST).days + 1
_EN_ROADS = ("Sejong-daero", "Teheran-ro", "Hangang-daero", "Jongno", "Eulji-ro", "Dosan-daero", "Gwanak-ro")
_EN_GU = ("Jongno-gu", "Gangnam-gu", "Mapo-gu", "Seocho-gu", "Songpa-gu", "Nowon-gu", "Suyeong-gu")
_RRN_LIKE = re.compile(r"^(\d{6})(\D*)(\d)(.*)$")


class SurrogateMap:
    """Maps identifiers to surrogates drawn from a keyed PRF of the secret, a scope and a counter.

    The n-th distinct value of a label seen in a scope (a person's notes) gets the stand-in drawn from
    HMAC(secret, label, scope, n): nothing of the real value's digits, letters or birth date reaches it; the same
    value within the scope gets the same stand-in again. Dates move by the scope's offset — the person's own date
    shift, so a note agrees with the person's structured dates — or, for a map made without one (standalone
    text), by one offset drawn from the secret. Birth dates are written no finer than `birth_precision`.
    """

    def __init__(
        self,
        secret: str | bytes,
        *,
        max_date_shift_days: int = 365,
        date_shift_days: int | None = None,
        birth_precision: Precision = "day",
        scope: str = "",
    ) -> None:
        self._key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not self._key:
            raise InputError("the surrogate secret must not be empty")
        self.scope = scope
        self.birth_precision: Precision = birth_precision
        self._cache: dict[tuple[str, str], str] = {}
        self._seen: dict[str, int] = {}
        if date_shift_days is None:
            shift = self._rng("DATE-SHIFT", "").randint(1, max(max_date_shift_days, 1))
            date_shift_days = shift if self._rng("DATE-SIGN", "").random() < 0.5 else -shift
        self.date_shift_days = date_shift_days

    def for_person(self, scope: str, date_shift_days: int) -> SurrogateMap:
        """A fresh map for one person's notes: their pseudonym as scope, their own date shift."""
        return SurrogateMap(
            self._key, date_shift_days=date_shift_days, birth_precision=self.birth_precision, scope=scope
        )

    def _rng(self, label: str, counter: str) -> random.Random:
        digest = hmac.new(self._key, f"{label}\x00{self.scope}\x00{counter}".encode(), hashlib.sha256).digest()
        return random.Random(int.from_bytes(digest[:16], "big"))

    def replace(self, label: str, value: str) -> str:
        """The surrogate for `value` of type `label` (memoised: the same value gives the same surrogate).

        `label` is one of the detector's labels, or BIRTH_DATE for a DATE written as someone's date of birth.
        """
        key = _normalise(label, value)
        cached = self._cache.get((label, key))
        if cached is None:
            n = self._seen.get(label, 0)
            self._seen[label] = n + 1
            cached = self._make(label, value, self._rng(label, str(n)))
            self._cache[(label, key)] = cached
        return _recase(cached, value) if label == "PERSON" else cached

    def _make(self, label: str, value: str, rng: random.Random) -> str:
        if label == "PERSON":
            return _person(value, rng)
        if label == "DATE":
            return shift_date(value, self.date_shift_days) or _digits_like(value, rng)
        if label == "BIRTH_DATE":
            return generalise_date(value, self.date_shift_days, self.birth_precision) or "[DATE]"
        if label == "RRN":
            return _rrn(value, rng)
        if label == "PHONE":
            return _phone(value, rng)
        if label == "EMAIL":
            return _email(rng)
        if label == "ADDRESS":
            return _address(value, rng)
        if label == "AGE":
            return re.sub(r"^\d+", "90+", value)  # Safe Harbor: every age over 89 becomes one category
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


def _rrn_birth(value: str) -> dt.date | None:
    digits = re.sub(r"\D", "", value)
    try:
        return parse_rrn(digits[:7] + "000000").birth_date
    except InputError:
        return None


def _rrn(value: str, rng: random.Random) -> str:
    """A new number of the same shape: birth part drawn uniformly from 1930–2009, never the real one; G digit
    drawn for that century (1/2 or 3/4), tail random with a valid check digit; a mask stays a mask."""
    m = _RRN_LIKE.match(value)
    if m is None:
        return _digits_like(value, rng)
    _, sep, _, tail = m.groups()
    born = _RRN_FIRST + dt.timedelta(days=rng.randrange(_RRN_DAYS))
    if born == _rrn_birth(value):  # by chance the real birth date: take the next day
        born += dt.timedelta(days=1)
    front, g = born.strftime("%y%m%d"), (1 if born.year < 2000 else 3) + rng.randrange(2)
    if not tail.isdigit():
        return f"{front}{sep}{g}" + re.sub(r"\d", lambda _: str(rng.randrange(10)), tail)
    body = f"{front}{g}" + "".join(str(rng.randrange(10)) for _ in range(len(tail) - 1))
    return f"{front}{sep}{body[6:]}{rrn_check_digit(body)}" if len(body) == 12 else f"{front}{sep}{body[6:]}"


def _phone(value: str, rng: random.Random) -> str:
    """A new number of the same kind (mobile 010, 070, or a landline with a random area code), written with the
    original's separators and +82 form; no digit of the original is kept."""
    try:
        parsed = parse_phone(value)
    except InputError:
        return _digits_like(value, rng)
    prefix = {"mobile": "010", "voip": "070"}.get(parsed.kind) or rng.choice(_AREA_CODES)
    exchange = str(rng.randint(2, 9)) + "".join(str(rng.randrange(10)) for _ in range(len(parsed.exchange) - 1))
    line = "".join(str(rng.randrange(10)) for _ in range(4))
    groups = [
        g for g in re.finditer(r"\d+", value) if not (g.group() == "0" and value[g.start() - 1 : g.start()] == "(")
    ]
    international = value.startswith("+82")
    if international:
        groups = groups[1:]
    lead = prefix[1:] if international else prefix
    parts = {1: [lead + exchange + line], 2: [lead, exchange + line], 3: [lead, exchange, line]}.get(len(groups))
    if parts is None:
        return f"{prefix}-{exchange}-{line}"
    out, pos = [], 0
    for g, new in zip(groups, parts, strict=True):
        out.append(value[pos : g.start()] + new)
        pos = g.end()
    return "".join(out) + value[pos:]


def _email(rng: random.Random) -> str:
    """A new address at a webmail domain drawn at random (the original's domain names an employer or a school)."""
    _, en = pooled_name(rng.random() < 0.5, rng.random())
    surname, _, given = en.lower().partition(" ")
    return f"{given}.{surname}{rng.randint(1, 99)}@{rng.choice(_WEBMAIL)}"


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
