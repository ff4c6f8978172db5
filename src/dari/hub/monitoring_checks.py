"""Checks of a monitoring publication at the hub's boundary: sizes, counts, times and numbers the store can keep.

The payload's own schema (`dari.monitoring.publication`) checks types; these check what depends on the store
(column sizes, PostgreSQL's integer range, JSON's lack of NaN) and on the content (windows that end after they start,
one version of a window per publication, entries of the publication's own model). Failures name the field.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from dari.disclosure import DisclosureRefusedError, DisclosureRules
from dari.errors import InputError
from dari.federation.register import recheck_release
from dari.hub.db.models import ValidationReport
from dari.hub.governance.errors import ConflictError, NotFoundError
from dari.monitoring.publication import InferenceEntry, MonitoringPublication, MonitoringWindow

# A publication is sent whole in one request: sites send long histories in several publications.
MAX_PUBLICATION_BYTES = 8 * 1024 * 1024
MAX_WINDOWS = 1000
MAX_INFERENCES = 20_000
_INT_MAX = 2_147_483_647  # integer columns on PostgreSQL
# Longest text the store keeps per field (the columns' sizes); longer is refused, never cut.
_MAX_CHARS: dict[str, int] = {
    "site_id": 64,
    "model_name": 200,
    "model_version": 50,
    "report_id": 40,
    "subject": 200,
    "message": 10_000,  # text columns: bounded only so that one field cannot fill a publication
    "service_id": 200,
    "hook_instance": 200,
    "reason": 10_000,
    "indicator": 32,
    "card_uuid": 64,
}


class PublicationError(InputError):
    """A monitoring publication the hub cannot store as given (HTTP 422); the message names the field."""


def as_utc(value: dt.datetime, field: str = "time") -> dt.datetime:
    """The time as aware UTC (a naive time is read as UTC, as the store writes them); refuses unrepresentable ones."""
    try:
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except OverflowError:
        raise PublicationError(f"{field} must be a time between years 1 and 9999 in UTC, got {value!r}") from None


def check_report(session: Session, publication: MonitoringPublication) -> None:
    """The validation report named, if any, exists and is of the published model."""
    if publication.report_id is None:
        return
    too_long = len(publication.report_id) > _MAX_CHARS["report_id"]
    report = None if too_long else session.get(ValidationReport, publication.report_id)
    if report is None:
        raise NotFoundError(f"unknown validation report {publication.report_id[:40]!r}")
    if report.model_sha256 != publication.model_sha256:
        raise ConflictError(f"validation report {report.id} is of another model, not {publication.model_sha256[:16]}…")


def _check_text(field: str, value: str | None, limit_key: str | None = None) -> None:
    limit = _MAX_CHARS[limit_key or field.rsplit(".", 1)[-1]]
    if value is not None and len(value) > limit:
        raise PublicationError(f"{field} must have at most {limit} characters, got {len(value)}")


def _check_count(field: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= _INT_MAX:
        raise PublicationError(f"{field} must be a count between 0 and {_INT_MAX}, got {value}")


def _check_values(field: str, value: Any) -> None:
    """JSON columns refuse NaN and infinities, PostgreSQL refuses NUL characters: name the first one found."""
    if isinstance(value, float) and not math.isfinite(value):
        raise PublicationError(f"{field} must be a finite number, got {value}")
    if isinstance(value, str) and "\x00" in value:
        raise PublicationError(f"{field} must not contain NUL characters")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_values(f"{field}.{key}", key)
            _check_values(f"{field}.{key}", item)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_values(f"{field}[{i}]", item)


def check_publication(publication: MonitoringPublication) -> tuple[list[MonitoringWindow], list[InferenceEntry]]:
    """The publication's windows and inference entries with UTC times, after every check that needs no store."""
    _check_values("publication", publication.model_dump())
    check_disclosure(publication)
    return checked_windows(publication), checked_inferences(publication)


def check_disclosure(publication: MonitoringPublication, rules: DisclosureRules | None = None) -> None:
    """The hub's re-check of the site's disclosure control (`dari.federation.register`): live outcome counts
    rounded or suppressed under at least the consortium's rules; a publication that fails is refused whole."""
    try:
        recheck_release(publication, rules or DisclosureRules())
    except DisclosureRefusedError as exc:
        raise PublicationError(f"refused by the hub's disclosure re-check: {exc}") from None


def checked_windows(publication: MonitoringPublication) -> list[MonitoringWindow]:
    """The windows with UTC times, after checking sizes, counts, order and numbers."""
    for field in ("site_id", "model_name", "model_version", "report_id"):
        _check_text(field, getattr(publication, field))
    if len(publication.windows) > MAX_WINDOWS:
        raise PublicationError(f"windows: at most {MAX_WINDOWS} per publication, got {len(publication.windows)}")
    windows: list[MonitoringWindow] = []
    starts: set[dt.datetime] = set()
    for i, window in enumerate(publication.windows):
        where = f"windows[{i}]"
        start, end = as_utc(window.start, f"{where}.start"), as_utc(window.end, f"{where}.end")
        if end <= start:
            raise PublicationError(f"{where}.end must be after its start, got {end.isoformat()}")
        if start in starts:
            raise PublicationError(f"{where}.start: two windows start at {start.isoformat()}")
        starts.add(start)
        activity = window.activity
        counts = {"calls": activity.calls, "scored": activity.scored}
        counts |= {f"refused_by_status.{k}": v for k, v in activity.refused_by_status.items()}
        counts |= {f"cards_by_indicator.{k}": v for k, v in activity.cards_by_indicator.items()}
        counts |= {"feedback_accepted": activity.feedback_accepted, "feedback_overridden": activity.feedback_overridden}
        for name, count in counts.items():
            _check_count(f"{where}.activity.{name}", count)
        if window.performance is not None:
            _check_count(f"{where}.performance.n", window.performance.n)
            _check_count(f"{where}.performance.events", window.performance.events)
        for j, alert in enumerate(window.alerts):
            _check_text(f"{where}.alerts[{j}].subject", alert.subject)
            _check_text(f"{where}.alerts[{j}].message_en", alert.message_en, "message")
            _check_text(f"{where}.alerts[{j}].message_ko", alert.message_ko, "message")
        windows.append(window.model_copy(update={"start": start, "end": end}))
    return windows


def checked_inferences(publication: MonitoringPublication) -> list[InferenceEntry]:
    """The inference entries with UTC times, after checking they belong to the model and fit the store."""
    if len(publication.inferences) > MAX_INFERENCES:
        raise PublicationError(
            f"inferences: at most {MAX_INFERENCES} per publication, got {len(publication.inferences)}"
        )
    entries = []
    for i, entry in enumerate(publication.inferences):
        where = f"inferences[{i}]"
        if entry.model_sha256 != publication.model_sha256:
            raise PublicationError(f"{where}.model_sha256 differs from the publication's model")
        for field in ("service_id", "hook_instance", "reason", "indicator", "card_uuid"):
            _check_text(f"{where}.{field}", getattr(entry, field))
        _check_text(f"{where}.model_version", entry.model_version, "model_version")
        if not 100 <= entry.status <= 599:
            raise PublicationError(f"{where}.status must be an HTTP status (100-599), got {entry.status}")
        if entry.probability is not None and not 0.0 <= entry.probability <= 1.0:
            raise PublicationError(f"{where}.probability must be within [0, 1], got {entry.probability}")
        if entry.latency_ms < 0:
            raise PublicationError(f"{where}.latency_ms must be ≥ 0, got {entry.latency_ms}")
        entries.append(entry.model_copy(update={"at": as_utc(entry.at, f"{where}.at")}))
    return entries
