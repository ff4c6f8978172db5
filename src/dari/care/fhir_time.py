"""When a FHIR observation happened, and which of several is the latest: by instant, never by bundle order.

A FHIR date covers a span: a dateTime with a time is one instant, a date is a whole local day (in the service's
time zone), `YYYY-MM` and `YYYY` a month or a year. Of the observations in a window, the latest is the one whose
span ends last; any other whose span reaches into it (the same instant written in another offset, or a date
without a time on that day) and whose value differs makes the choice ambiguous: `AmbiguousDataError` (HTTP 412),
naming the feature and the resources, never the values. The same value sent twice is not a conflict.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dari.models.feature_spec import Feature
from dari.models.inputs import FeatureValueError

Candidate = tuple[datetime, datetime, float, str]  # (earliest instant, latest instant, value, resource name)


class AmbiguousDataError(FeatureValueError):
    """Two observations could each be the latest and their values differ (HTTP 412): the EHR must settle it.

    The message names the feature and the resources, never their values."""

    def __init__(self, feature: Feature, resources: list[str]) -> None:
        self.resources = resources
        super().__init__(
            feature,
            "ambiguous",
            f"{' and '.join(resources)} differ and are equally the latest (same instant, or a date without a "
            "time on the same day); the patient is not scored until one is corrected or entered in error",
        )


def local_days(value: Any, tz: ZoneInfo) -> tuple[date, date] | None:
    """The [first, last] local day a FHIR date/dateTime may denote (partial dates span their year or month)."""
    if isinstance(value, datetime):
        day = value.astimezone(tz).date() if value.tzinfo is not None else value.date()
        return day, day
    if isinstance(value, date):
        return value, value
    if isinstance(value, str):
        parts = value.split("-")
        if len(parts) == 1 and parts[0].isdigit():
            year = int(parts[0])
            return date(year, 1, 1), date(year, 12, 31)
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            year, month = int(parts[0]), int(parts[1])
            nxt = date(year + (month == 12), month % 12 + 1, 1)
            return date(year, month, 1), nxt - timedelta(days=1)
    return None


def instant_span(value: Any, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The [earliest, latest] instant a FHIR date/dateTime/instant may denote: a point for a time, a whole local
    day for a date (a dateTime without an offset is read in the service's time zone)."""
    if isinstance(value, datetime):
        point = value if value.tzinfo is not None else value.replace(tzinfo=tz)
        return point, point
    days = local_days(value, tz)
    assert days is not None  # the caller placed the value in the window already
    first = datetime.combine(days[0], time.min, tzinfo=tz)
    return first, datetime.combine(days[1], time.max, tzinfo=tz)


def latest_value(f: Feature, found: list[Candidate]) -> tuple[float | None, str | None]:
    """The latest value by time (bundle order never decides); refuses differing values that may be equally late."""
    if not found:
        return None, None
    best = max(found, key=lambda c: (c[1], c[0]))
    rivals = [c[3] for c in found if c is not best and c[1] >= best[0] and not _same(c[2], best[2])]
    if rivals:
        raise AmbiguousDataError(f, sorted([best[3], *rivals]))
    return best[2], best[3]


def _same(a: float, b: float) -> bool:
    """Equal up to unit-conversion rounding (the same result sent twice is not a conflict)."""
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
