"""주민등록번호 (resident registration number): format, check digit, parsing and vectorised generation.

Layout YYMMDD-GNNNNNC. G carries sex and century (and, for 5-8, foreign registration); C is a
mod-11 check digit. Numbers issued from October 2020 keep YYMMDD-G but have a random tail, so
their last digit is not a check digit: de-identification must not rely on the checksum alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from dari.errors import InputError
from dari.kr.vecstr import ascii_rows_to_str

WEIGHTS: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)

# G digit -> (century, sex, foreigner)
GENDER_DIGITS: dict[int, tuple[int, Literal["M", "F"], bool]] = {
    9: (1800, "M", False),
    0: (1800, "F", False),
    1: (1900, "M", False),
    2: (1900, "F", False),
    3: (2000, "M", False),
    4: (2000, "F", False),
    5: (1900, "M", True),
    6: (1900, "F", True),
    7: (2000, "M", True),
    8: (2000, "F", True),
}

_WEIGHTS_ARRAY = np.array(WEIGHTS, dtype=np.int64)


@dataclass(frozen=True)
class ParsedRrn:
    """What a resident registration number says about its holder."""

    birth_date: dt.date
    sex: Literal["M", "F"]
    foreigner: bool
    check_digit_valid: bool


def rrn_check_digit(first12: str) -> int:
    """Return the check digit for the first 12 digits (hyphen allowed) of an RRN."""
    digits = first12.replace("-", "")
    if len(digits) != 12 or not digits.isascii() or not digits.isdigit():
        raise InputError(f"expected 12 digits, got {first12!r}")
    total = sum(w * int(d) for w, d in zip(WEIGHTS, digits, strict=True))
    return (11 - total % 11) % 10


def _digits(text: str) -> str | None:
    """Strip the optional hyphen; None when the shape is not YYMMDD[-]GNNNNNN."""
    text = text.strip()
    if len(text) == 14 and text[6] == "-":
        text = text[:6] + text[7:]
    if len(text) != 13 or not text.isascii() or not text.isdigit():
        return None
    return text


def parse_rrn(text: str) -> ParsedRrn:
    """Parse an RRN (hyphen optional) into birth date, sex, foreigner flag and checksum validity."""
    digits = _digits(text)
    if digits is None:
        raise InputError(f"not a resident registration number: {text!r}")
    century, sex, foreigner = GENDER_DIGITS[int(digits[6])]
    try:
        born = dt.date(century + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError as exc:
        raise InputError(f"impossible birth date in resident registration number: {text!r}") from exc
    valid = rrn_check_digit(digits[:12]) == int(digits[12])
    return ParsedRrn(birth_date=born, sex=sex, foreigner=foreigner, check_digit_valid=valid)


def is_valid_rrn(text: str, *, allow_post_2020: bool = True) -> bool:
    """Whether text is a well-formed RRN with a real birth date (and a valid checksum if required)."""
    try:
        parsed = parse_rrn(text)
    except InputError:
        return False
    return allow_post_2020 or parsed.check_digit_valid


def sex_is_male(sex: npt.NDArray[np.generic]) -> npt.NDArray[np.bool_]:
    """Accept 'M'/'F' strings or OMOP gender concept ids (8507 male, 8532 female)."""
    if sex.dtype.kind in "iu":
        male = sex == 8507
        bad = ~male & (sex != 8532)
    else:
        as_str = sex.astype(str)
        male = as_str == "M"
        bad = ~male & (as_str != "F")
    if bad.any():
        raise InputError("sex must be 'M'/'F' or OMOP concept 8507/8532")
    return np.asarray(male, dtype=np.bool_)


def check_digits(first12: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Vectorised check digit for an (n, 12) matrix of RRN digits."""
    result: npt.NDArray[np.int64] = (11 - (first12 @ _WEIGHTS_ARRAY) % 11) % 10
    return result


def generate_rrns(
    birth_dates: npt.NDArray[np.datetime64],
    sex: npt.NDArray[np.generic],
    rng: np.random.Generator,
    issued_after_2020: npt.NDArray[np.bool_],
    *,
    foreigner: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.str_]:
    """Generate hyphenated RRNs; pre-2020 ones carry a valid check digit, post-2020 ones never do."""
    dates = np.asarray(birth_dates, dtype="datetime64[D]")
    n = dates.shape[0]
    male = sex_is_male(np.asarray(sex))
    after = np.asarray(issued_after_2020, dtype=np.bool_)
    alien = np.zeros(n, dtype=np.bool_) if foreigner is None else np.asarray(foreigner, dtype=np.bool_)
    if male.shape[0] != n or after.shape[0] != n or alien.shape[0] != n:
        raise InputError("birth_dates, sex, issued_after_2020 and foreigner must have the same length")
    year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    if n and (year.min() < 1800 or year.max() > 2099 or (alien & (year < 1900)).any()):
        raise InputError("birth years must lie in 1800-2099 (1900-2099 for foreigners)")
    century = year // 100
    female = (~male).astype(np.int64)
    g = np.where(century == 18, np.where(male, 9, 0), np.where(century == 19, 1, 3) + female)
    g = np.where(alien, g + 4, g)
    yy = year % 100
    digits = np.empty((n, 13), dtype=np.int64)
    digits[:, 0], digits[:, 1] = yy // 10, yy % 10
    digits[:, 2], digits[:, 3] = month // 10, month % 10
    digits[:, 4], digits[:, 5] = day // 10, day % 10
    digits[:, 6] = g
    # Pre-2020 tail: 2-digit region of first registration (00-95), 2-digit office, 1-digit order.
    region = rng.integers(0, 96, n)
    office = rng.integers(0, 100, n)
    order = rng.integers(1, 10, n)
    random_tail = rng.integers(0, 10, (n, 5))
    digits[:, 7], digits[:, 8] = region // 10, region % 10
    digits[:, 9], digits[:, 10] = office // 10, office % 10
    digits[:, 11] = order
    digits[after, 7:12] = random_tail[after]
    valid = check_digits(digits[:, :12])
    # A random post-2020 tail passes the checksum 1 time in 10; shifting it off keeps the
    # synthetic populations separable by checksum, which the tests and evaluation rely on.
    digits[:, 12] = np.where(after, (valid + rng.integers(1, 10, n)) % 10, valid)
    codes = np.empty((n, 14), dtype=np.uint8)
    codes[:, :6] = digits[:, :6] + 48
    codes[:, 6] = ord("-")
    codes[:, 7:] = digits[:, 6:] + 48
    return ascii_rows_to_str(codes)
