"""How Korean clinical text writes dates, RRNs, phone numbers and names: every common variant."""

from __future__ import annotations

import datetime as dt

import numpy as np

from dari.errors import InputError
from dari.kr.phone import parse_phone

DATE_STYLES: tuple[str, ...] = ("iso", "dot", "dot_padded", "korean", "us", "compact_dot")
RRN_STYLES: tuple[str, ...] = ("hyphen", "plain", "masked")
PHONE_STYLES: tuple[str, ...] = ("hyphen", "digits", "international")

# Characters that slip into text from other systems but do not exist in CP949; same-length
# replacements keep every recorded span offset valid.
CP949_SAFE = str.maketrans({"µ": "u", "μ": "u", "·": "-", "ㆍ": "-", "‧": "-", "–": "-", "—": "-", "’": "'"})


def format_date(day: dt.date, style: str) -> str:
    """Write a date as 2023-05-01, 2023.5.1, 2023.05.01, 2023년 5월 1일, 05/01/2023 or 23.05.01."""
    if style == "iso":
        return day.isoformat()
    if style == "dot":
        return f"{day.year}.{day.month}.{day.day}"
    if style == "dot_padded":
        return f"{day.year}.{day.month:02d}.{day.day:02d}"
    if style == "korean":
        return f"{day.year}년 {day.month}월 {day.day}일"
    if style == "us":
        return f"{day.month:02d}/{day.day:02d}/{day.year}"
    if style == "compact_dot":
        return f"{day.year % 100:02d}.{day.month:02d}.{day.day:02d}"
    raise InputError(f"unknown date style {style!r}")


def format_rrn(rrn: str, style: str) -> str:
    """Write an RRN with hyphen, without it, or masked after the sex digit (850101-1******)."""
    digits = rrn.replace("-", "")
    if style == "hyphen":
        return f"{digits[:6]}-{digits[6:]}"
    if style == "plain":
        return digits
    if style == "masked":
        return f"{digits[:6]}-{digits[6]}******"
    raise InputError(f"unknown RRN style {style!r}")


def format_phone(phone: str, style: str) -> str:
    """Write a phone number as 010-1234-5678, 01012345678 or +82-10-1234-5678."""
    parsed = parse_phone(phone)
    if style == "hyphen":
        return parsed.national()
    if style == "digits":
        return parsed.digits()
    if style == "international":
        return parsed.international()
    raise InputError(f"unknown phone style {style!r}")


def pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    """One option, uniformly."""
    return options[int(rng.integers(len(options)))]
