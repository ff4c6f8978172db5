"""Korean telephone numbers: area codes by 시/도, vectorised generators, validation and formats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from dari.errors import InputError
from dari.kr.vecstr import ascii_rows_to_str, join, small_ints_to_str

AREA_CODES: dict[str, str] = {
    "서울특별시": "02",
    "경기도": "031",
    "인천광역시": "032",
    "강원특별자치도": "033",
    "충청남도": "041",
    "대전광역시": "042",
    "충청북도": "043",
    "세종특별자치시": "044",
    "부산광역시": "051",
    "울산광역시": "052",
    "대구광역시": "053",
    "경상북도": "054",
    "경상남도": "055",
    "전라남도": "061",
    "광주광역시": "062",
    "전북특별자치도": "063",
    "제주특별자치도": "064",
}
REGION_BY_AREA_CODE: dict[str, str] = {code: sido for sido, code in AREA_CODES.items()}
MOBILE_PREFIXES: frozenset[str] = frozenset({"010", "011", "016", "017", "018", "019"})
VOIP_PREFIX = "070"

PhoneKind = Literal["mobile", "landline", "voip"]


@dataclass(frozen=True)
class PhoneNumber:
    """A parsed Korean number in national form: prefix, exchange, line."""

    kind: PhoneKind
    prefix: str
    exchange: str
    line: str

    @property
    def region(self) -> str | None:
        """The 시/도 a landline area code belongs to, None for mobile and VoIP."""
        return REGION_BY_AREA_CODE.get(self.prefix) if self.kind == "landline" else None

    def national(self) -> str:
        """Hyphenated national form, e.g. 010-1234-5678."""
        return f"{self.prefix}-{self.exchange}-{self.line}"

    def digits(self) -> str:
        """Digits only, e.g. 01012345678."""
        return f"{self.prefix}{self.exchange}{self.line}"

    def international(self) -> str:
        """+82 form without the trunk zero, e.g. +82-10-1234-5678."""
        return f"+82-{self.prefix[1:]}-{self.exchange}-{self.line}"


def _split_prefix(digits: str) -> str | None:
    """Longest known prefix at the start of a national digit string."""
    if digits.startswith("02"):
        return "02"
    head = digits[:3]
    if head in REGION_BY_AREA_CODE or head in MOBILE_PREFIXES or head == VOIP_PREFIX:
        return head
    return None


def parse_phone(text: str) -> PhoneNumber:
    """Parse a Korean number written with '-', ' ', '.' or '()' separators, or in +82 form."""
    raw = text.strip()
    international = raw.startswith("+82")
    body = raw[3:] if international else raw
    groups = list(body.replace("(", " ").replace(")", " ").replace(".", " ").replace("-", " ").split())
    if not groups or not all(g.isascii() and g.isdigit() for g in groups):
        raise InputError(f"not a Korean phone number: {text!r}")
    if international:
        # '+82 (0)10 ...' writes the trunk zero in parentheses; drop it, then restore the national zero.
        if groups[0] == "0":
            groups.pop(0)
        if not groups:
            raise InputError(f"not a Korean phone number: {text!r}")
        if not groups[0].startswith("0"):
            groups[0] = "0" + groups[0]
    digits = "".join(groups)
    prefix = _split_prefix(digits)
    if prefix is None:
        raise InputError(f"unknown Korean dialling prefix: {text!r}")
    rest = digits[len(prefix) :]
    kind: PhoneKind = "mobile" if prefix in MOBILE_PREFIXES else "voip" if prefix == VOIP_PREFIX else "landline"
    sizes = {8} if prefix in {"010", VOIP_PREFIX} else {7, 8}
    # Exchanges never start with 0; generators also avoid 1, but 010-1234-5678 is the stock example
    # number in forms and must still be recognised.
    if len(rest) not in sizes or rest[0] == "0":
        raise InputError(f"wrong number of digits after {prefix}: {text!r}")
    exchange, line = rest[:-4], rest[-4:]
    if len(groups) > 1 and groups != [prefix, exchange, line] and groups != [prefix, exchange + line]:
        raise InputError(f"digit groups do not follow prefix-exchange-line: {text!r}")
    return PhoneNumber(kind=kind, prefix=prefix, exchange=exchange, line=line)


def is_valid_phone(text: str) -> bool:
    """Whether text is a plausible Korean mobile, landline or 070 number in any common notation."""
    try:
        parse_phone(text)
    except InputError:
        return False
    return True


def _digit_codes(rng: np.random.Generator, n: int, width: int) -> npt.NDArray[np.uint8]:
    """Random ASCII digits, first one 2-9 because exchanges never start with 0 or 1."""
    digits = rng.integers(0, 10, (n, width), dtype=np.uint8)
    digits[:, 0] = rng.integers(2, 10, n, dtype=np.uint8)
    return digits + np.uint8(48)


def generate_mobiles(n: int, rng: np.random.Generator) -> npt.NDArray[np.str_]:
    """Generate n mobile numbers as 010-XXXX-XXXX."""
    codes = np.empty((n, 13), dtype=np.uint8)
    codes[:, :4] = np.frombuffer(b"010-", dtype=np.uint8)
    codes[:, 4:8] = _digit_codes(rng, n, 4)
    codes[:, 8] = ord("-")
    codes[:, 9:] = rng.integers(48, 58, (n, 4), dtype=np.uint8)
    return ascii_rows_to_str(codes)


def area_codes_for(regions: npt.NDArray[np.str_]) -> npt.NDArray[np.str_]:
    """Map an array of 시/도 names to their area codes."""
    uniques, inverse = np.unique(np.asarray(regions, dtype=str), return_inverse=True)
    unknown = [str(u) for u in uniques if str(u) not in AREA_CODES]
    if unknown:
        raise InputError(f"no area code for region(s) {unknown}")
    table = np.array([AREA_CODES[str(u)] for u in uniques], dtype="U3")
    result: npt.NDArray[np.str_] = table[inverse.reshape(-1)]
    return result


def generate_landlines(regions: npt.NDArray[np.str_], rng: np.random.Generator) -> npt.NDArray[np.str_]:
    """Generate landlines (AREA-EXCH-LINE) whose area code matches each row's 시/도."""
    area = area_codes_for(regions)
    n = area.shape[0]
    # Most exchanges have been four digits since the 1990s; three-digit ones survive.
    four = rng.random(n) < np.where(area == "02", 0.8, 0.6)
    exch = np.where(four, rng.integers(2000, 10000, n), rng.integers(200, 1000, n))
    line = rng.integers(0, 10000, n)
    tail = join(small_ints_to_str(exch), "-", np.strings.zfill(small_ints_to_str(line), 4))
    result: npt.NDArray[np.str_] = np.strings.add(np.strings.add(area, "-"), tail)
    return result
