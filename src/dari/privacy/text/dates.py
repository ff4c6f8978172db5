"""Date shifting that keeps the way a date was written (2023.5.1 stays dotted and unpadded)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_YMD = re.compile(r"^((?:19|20)\d{2})([-/.])([ ]?)(\d{1,2})\2[ ]?(\d{1,2})$")
_KO = re.compile(r"^(?:((?:19|20)?\d{2})년([ ]?))?(\d{1,2})월([ ]?)(\d{1,2})일$")
_KO_YM = re.compile(r"^((?:19|20)\d{2})년([ ]?)(\d{1,2})월$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_YYMMDD = re.compile(r"^(\d{2})\.(\d{2})\.(\d{2})$")
_MD = re.compile(r"^(\d{1,2})/(\d{1,2})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_EN = re.compile(
    r"^(?:([A-Z][a-z]+)\.?[ ](\d{1,2})(?:st|nd|rd|th)?(?:,?[ ](\d{4}))?|(\d{1,2})[ ]([A-Z][a-z]+)\.?,?[ ](\d{4}))$"
)
_NO_YEAR = 2000  # a leap year, so 2/29 without a year still shifts


def _pad(n: int, like: str) -> str:
    return f"{n:02d}" if len(like) == 2 else str(n)


def _year(text: str) -> int:
    y = int(text)
    return y if len(text) == 4 else (2000 + y if y <= dt.date.today().year % 100 + 1 else 1900 + y)


def _month(name: str) -> int | None:
    return next((i + 1 for i, m in enumerate(_MONTHS) if name[:3].lower() == m.lower()), None)


def _shift(y: int, m: int, d: int, days: int) -> dt.date | None:
    try:
        return dt.date(y, m, d) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None


def _fmt(new: dt.date | None, render: Callable[[dt.date], str]) -> str | None:
    return None if new is None else render(new)


def shift_date(value: str, days: int) -> str | None:
    """The date written in `value` moved by `days`, in the same notation; None when it cannot be read."""
    if ymd := _YMD.match(value):
        sep = ymd[2] + ymd[3]
        return _fmt(
            _shift(int(ymd[1]), int(ymd[4]), int(ymd[5]), days),
            lambda d: f"{d.year}{sep}{_pad(d.month, ymd[4])}{sep}{_pad(d.day, ymd[5])}",
        )
    if ko_m := _KO.match(value):

        def ko(d: dt.date) -> str:
            year = "" if not ko_m[1] else f"{d.year if len(ko_m[1]) == 4 else f'{d.year % 100:02d}'}년{ko_m[2]}"
            return f"{year}{d.month}월{ko_m[4]}{d.day}일"

        return _fmt(_shift(_year(ko_m[1]) if ko_m[1] else _NO_YEAR, int(ko_m[3]), int(ko_m[5]), days), ko)
    if ym := _KO_YM.match(value):
        return _fmt(_shift(int(ym[1]), int(ym[3]), 15, days), lambda d: f"{d.year}년{ym[2]}{d.month}월")
    if us := _US.match(value):
        return _fmt(
            _shift(_year(us[3]), int(us[1]), int(us[2]), days),
            lambda d: f"{_pad(d.month, us[1])}/{_pad(d.day, us[2])}/" + (d.strftime("%Y" if len(us[3]) == 4 else "%y")),
        )
    if yy := _YYMMDD.match(value):
        return _fmt(_shift(_year(yy[1]), int(yy[2]), int(yy[3]), days), lambda d: d.strftime("%y.%m.%d"))
    if md := _MD.match(value):
        new = _shift(_NO_YEAR, int(md[1]), int(md[2]), days)
        return _fmt(new, lambda d: f"{_pad(d.month, md[1])}/{_pad(d.day, md[2])}")
    if cp := _COMPACT.match(value):
        return _fmt(_shift(int(cp[1]), int(cp[2]), int(cp[3]), days), lambda d: d.strftime("%Y%m%d"))
    if en := _EN.match(value):
        month, year = _month(en[1] or en[5] or ""), en[3] or en[6]
        if month is None:
            return None
        return _fmt(
            _shift(int(year) if year else _NO_YEAR, month, int(en[2] or en[4]), days),
            lambda d: f"{_MONTHS[d.month - 1]} {d.day}" + (f", {d.year}" if year else ""),
        )
    return None
