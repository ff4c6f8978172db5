"""Date shifting that keeps the way a date was written (2023.5.1 stays dotted and unpadded).

Every form the detector recognises (`patterns.find_dates`) is read here into a date plus a renderer for its own
notation, so a note's date moves by exactly the offset its person's structured dates move by. Dates written to
the month only (2024년 3월, March 2024) are shifted at their mid-month (the 15th) and written to the month again;
year-less dates (3/5, 3월 5일) are shifted inside the leap year 2000 so 2/29 survives and stay year-less.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Precision = Literal["day", "month", "year"]
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FULL = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
         "November", "December")  # fmt: skip
_YMD = re.compile(r"^((?:19|20)\d{2})([-/.])([ ]?)(\d{1,2})\2[ ]?(\d{1,2})$")
_KO = re.compile(r"^(?:((?:19|20)?\d{2})년([ ]?))?(\d{1,2})월([ ]?)(\d{1,2})일$")
_KO_YM = re.compile(r"^((?:19|20)\d{2})년([ ]?)(\d{1,2})월$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_YY_MD = re.compile(r"^(\d{2})([./])(\d{1,2})\2(\d{1,2})$")
_MD = re.compile(r"^(\d{1,2})/(\d{1,2})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_COMPACT6 = re.compile(r"^(\d{2})(\d{2})(\d{2})$")
_MON = r"([A-Z][a-z]+|[A-Z]{3,9})"
_EN_MDY = re.compile(rf"^{_MON}(\.?)[ ](\d{{1,2}})(st|nd|rd|th)?(?:(,?)[ ](\d{{4}}))?$")
_EN_DMY = re.compile(rf"^(\d{{1,2}})[ ]{_MON}(\.?)(,?)[ ](\d{{4}})$")
_EN_DASH = re.compile(rf"^(\d{{1,2}})-{_MON}-(\d{{4}}|\d{{2}})$")
_EN_DM = re.compile(rf"^(\d{{1,2}})-{_MON}$")  # 16-Apr (EMR exports, no year)
_EN_MY = re.compile(rf"^{_MON}(\.?)(,?)[ ](\d{{4}})$")
_NO_YEAR = 2000  # a leap year, so 2/29 without a year still shifts
_MID_MONTH = 15


@dataclass(frozen=True)
class WrittenDate:
    """A date as a note wrote it: the day it names, how precise it is, and how to write another day the same way."""

    day: dt.date
    precision: Literal["day", "month"]
    has_year: bool
    render: Callable[[dt.date, Precision], str]


def _pad(n: int, month: str, day: str) -> str:
    """Zero-padded when the original wrote month and day with two digits each (05/01, 11/29); 5/1 and 2/29 not."""
    return f"{n:02d}" if len(month) == 2 and len(day) == 2 else str(n)


def _year(text: str) -> int:
    y = int(text)
    return y if len(text) == 4 else (2000 + y if y <= dt.date.today().year % 100 + 1 else 1900 + y)


def _month(name: str) -> int | None:
    return next((i + 1 for i, m in enumerate(_MONTHS) if name[:3].lower() == m.lower()), None)


def _month_name(like: str, month: int) -> str:
    """Write `month` as the original wrote its month: full (March) or abbreviated (Mar), in its case (MAR)."""
    name = _FULL[month - 1] if like.title() in _FULL else _MONTHS[month - 1]
    return name.upper() if like.isupper() else name


def _ordinal(day: int) -> str:
    return "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _written(
    y: int, m: int, d: int, render: Callable[[dt.date, Precision], str], *, month_only: bool = False, year: bool = True
) -> WrittenDate | None:
    day = _date(y, m, d)
    return None if day is None else WrittenDate(day, "month" if month_only else "day", year, render)


def _numeric(y: dt.date, sep: str, mlike: str, dlike: str, p: Precision) -> str:
    if p == "year":
        return str(y.year)
    head = f"{y.year}{sep}{_pad(y.month, mlike, dlike)}"
    return head if p == "month" else f"{head}{sep}{_pad(y.day, mlike, dlike)}"


def _korean(d: dt.date, p: Precision, ylike: str | None, space: str, space2: str) -> str:
    year = "" if ylike is None else (f"{d.year}" if len(ylike) == 4 else f"{d.year % 100:02d}") + "년"
    if p == "year" or (p == "month" and not year):
        return year or f"{d.month}월"
    month = f"{year}{space if year else ''}{d.month}월"
    return month if p == "month" else f"{month}{space2}{d.day}일"


def _english(d: dt.date, p: Precision, mlike: str, dot: str) -> str:
    month = _month_name(mlike, d.month) + (dot if mlike.title() not in _FULL else "")
    return str(d.year) if p == "year" else f"{month} {d.year}"


def _ymd(m: re.Match[str]) -> WrittenDate | None:
    sep = m[2] + m[3]
    return _written(int(m[1]), int(m[4]), int(m[5]), lambda d, p: _numeric(d, sep, m[4], m[5], p))


def _ko(m: re.Match[str]) -> WrittenDate | None:
    ylike = m[1] or None
    year = _year(m[1]) if m[1] else _NO_YEAR

    def render(d: dt.date, p: Precision) -> str:
        return _korean(d, p, ylike, m[2] or "", m[4])

    return _written(year, int(m[3]), int(m[5]), render, year=ylike is not None)


def _ko_ym(m: re.Match[str]) -> WrittenDate | None:
    def render(d: dt.date, p: Precision) -> str:
        return _korean(d, p, m[1], m[2], "")

    return _written(int(m[1]), int(m[3]), _MID_MONTH, render, month_only=True)


def _us(m: re.Match[str]) -> WrittenDate | None:
    def render(d: dt.date, p: Precision) -> str:
        year = d.strftime("%Y" if len(m[3]) == 4 or p != "day" else "%y")
        if p != "day":
            return year if p == "year" else f"{_pad(d.month, m[1], m[2])}/{year}"
        return f"{_pad(d.month, m[1], m[2])}/{_pad(d.day, m[1], m[2])}/{year}"

    return _written(_year(m[3]), int(m[1]), int(m[2]), render)


def _yy_md(m: re.Match[str]) -> WrittenDate | None:
    def render(d: dt.date, p: Precision) -> str:
        if p != "day":
            return _numeric(d, m[2], m[3], m[4], p)
        return f"{d.year % 100:02d}{m[2]}{_pad(d.month, m[3], m[4])}{m[2]}{_pad(d.day, m[3], m[4])}"

    return _written(_year(m[1]), int(m[3]), int(m[4]), render)


def _md(m: re.Match[str]) -> WrittenDate | None:
    def render(d: dt.date, _p: Precision) -> str:
        return f"{_pad(d.month, m[1], m[2])}/{_pad(d.day, m[1], m[2])}"

    return _written(_NO_YEAR, int(m[1]), int(m[2]), render, year=False)


def _compact(m: re.Match[str]) -> WrittenDate | None:
    formats = {"day": "%Y%m%d", "month": "%Y%m", "year": "%Y"}
    return _written(int(m[1]), int(m[2]), int(m[3]), lambda d, p: d.strftime(formats[p]))


def _compact6(m: re.Match[str]) -> WrittenDate | None:
    formats = {"day": "%y%m%d", "month": "%Y%m", "year": "%Y"}
    return _written(_year(m[1]), int(m[2]), int(m[3]), lambda d, p: d.strftime(formats[p]))


def _en_mdy(m: re.Match[str]) -> WrittenDate | None:
    month, has_year = _month(m[1]), m[6] is not None

    def render(d: dt.date, p: Precision) -> str:
        if p != "day":
            return _english(d, p, m[1], m[2])
        head = f"{_month_name(m[1], d.month)}{m[2]} {d.day}{_ordinal(d.day) if m[4] else ''}"
        return f"{head}{m[5]} {d.year}" if has_year else head

    return (
        None
        if month is None
        else _written(int(m[6]) if has_year else _NO_YEAR, month, int(m[3]), render, year=has_year)
    )


def _en_dmy(m: re.Match[str]) -> WrittenDate | None:
    month = _month(m[2])

    def render(d: dt.date, p: Precision) -> str:
        if p != "day":
            return _english(d, p, m[2], m[3])
        return f"{d.day} {_month_name(m[2], d.month)}{m[3]}{m[4]} {d.year}"

    return None if month is None else _written(int(m[5]), month, int(m[1]), render)


def _en_my(m: re.Match[str]) -> WrittenDate | None:
    month = _month(m[1])

    def render(d: dt.date, p: Precision) -> str:
        return _english(d, p, m[1], m[2]).replace(" ", m[3] + " ", 1)

    return None if month is None else _written(int(m[4]), month, _MID_MONTH, render, month_only=True)


def _en_dash(m: re.Match[str]) -> WrittenDate | None:
    month = _month(m[2])

    def render(d: dt.date, p: Precision) -> str:
        year = str(d.year) if len(m[3]) == 4 or p != "day" else f"{d.year % 100:02d}"
        if p != "day":
            return year if p == "year" else f"{_month_name(m[2], d.month)}-{year}"
        return (
            f"{d.day:02d}-{_month_name(m[2], d.month)}-{year}"
            if len(m[1]) == 2
            else f"{d.day}-{_month_name(m[2], d.month)}-{year}"
        )

    return None if month is None else _written(_year(m[3]), month, int(m[1]), render)


def _en_dm(m: re.Match[str]) -> WrittenDate | None:
    month = _month(m[2])

    def render(d: dt.date, _p: Precision) -> str:
        return (
            f"{d.day:02d}-{_month_name(m[2], d.month)}" if len(m[1]) == 2 else f"{d.day}-{_month_name(m[2], d.month)}"
        )

    return None if month is None else _written(_NO_YEAR, month, int(m[1]), render, year=False)


# The forms in the order they are tried: 03/05/24 is a US month/day/year before it is a 2-digit-year-first date.
_FORMS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], WrittenDate | None]], ...] = (
    (_YMD, _ymd), (_KO, _ko), (_KO_YM, _ko_ym), (_US, _us), (_YY_MD, _yy_md), (_MD, _md), (_COMPACT, _compact),
    (_COMPACT6, _compact6), (_EN_MDY, _en_mdy), (_EN_DMY, _en_dmy), (_EN_DASH, _en_dash), (_EN_DM, _en_dm),
    (_EN_MY, _en_my),
)  # fmt: skip
# '24.3.5 (an apostrophe for the century) and 2024. 3. 5. (the official Korean style's closing dot) wrap a form
_WRAPPED = re.compile(r"^(')?(.*?)((?<=\.[ ]\d)\.|(?<=\.[ ]\d\d)\.)?$")


def read_date(value: str) -> WrittenDate | None:
    """What date `value` names and how it was written; None when it is not a date in a known form."""
    for pattern, reader in _FORMS:
        if (m := pattern.match(value)) and (written := reader(m)):
            return written
    wrapped = _WRAPPED.match(value)
    if wrapped and (wrapped[1] or wrapped[3]) and (inner := read_date(wrapped[2])) is not None:
        lead, tail, render = wrapped[1] or "", wrapped[3] or "", inner.render
        return WrittenDate(
            inner.day,
            inner.precision,
            inner.has_year,
            lambda d, p: lead + render(d, p) + tail if p == "day" else render(d, p),
        )
    return None


def _moved(day: dt.date, days: int) -> dt.date | None:
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return None


def shift_date(value: str, days: int) -> str | None:
    """The date written in `value` moved by `days`, in the same notation; None when it cannot be read.

    A month-only date moves its 15th and is written to the month again, so it is right to about half a month.
    """
    written = read_date(value)
    if written is None:
        return None
    new = _moved(written.day, days)
    return None if new is None else written.render(new, written.precision)


def generalise_date(value: str, days: int, precision: Precision) -> str | None:
    """The date moved by `days` and written no finer than `precision` (a birth date under the policy's level).

    None when the date cannot be read, or has no year while the precision asks for one.
    """
    written = read_date(value)
    if written is None or (precision != "day" and not written.has_year):
        return None
    new = _moved(written.day, days)
    if new is None:
        return None
    finest = "month" if written.precision == "month" and precision == "day" else precision
    return written.render(new, finest)
