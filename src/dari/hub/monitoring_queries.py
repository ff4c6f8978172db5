"""What the portal and the API ask about monitoring: timelines, alerts, the inference audit, the overview.

Of the versions of a window (same model, site and window start) the one from the publication received last is read;
the database picks it (`current_windows`: the newest publication id per window start), so every query below sees
one version of each window.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Subquery, and_, func, select
from sqlalchemy.orm import Session

from dari.hub.db.models import (
    InferenceRecord,
    MonitoringAlertRecord,
    MonitoringPublicationRecord,
    MonitoringWindowRecord,
    RegisteredModel,
    Site,
)
from dari.hub.governance.errors import NotFoundError
from dari.hub.monitoring_checks import as_utc
from dari.monitoring.publication import InferenceEntry, MonitoringPolicy, MonitoringWindow


class AlertRecord(BaseModel):
    """An alert of the current version of a window, with the model and site it concerns."""

    model_config = ConfigDict(frozen=True)
    model_sha256: str
    site_id: str
    window_start: dt.datetime
    window_end: dt.datetime
    kind: str
    severity: str
    subject: str
    value: float
    threshold: float
    message_en: str
    message_ko: str


class SiteTimeline(BaseModel):
    """A model's monitoring at one site: the latest publication's facts and every window, oldest first."""

    model_config = ConfigDict(frozen=True)
    model_sha256: str
    site_id: str
    model_name: str
    model_version: str
    report_id: str | None
    policy: MonitoringPolicy
    last_received_at: dt.datetime
    windows: list[MonitoringWindow]


class MonitoredDeployment(BaseModel):
    """One row of the monitoring overview: a model at a site and its latest window."""

    model_config = ConfigDict(frozen=True)
    model_sha256: str
    model_name: str
    model_version: str
    site_id: str
    site_name_ko: str
    site_name_en: str
    last_received_at: dt.datetime
    latest: MonitoringWindow | None


class InferencePage(BaseModel):
    """A page of the inference audit, newest first; `counts_by_status` ignores the status filter."""

    model_config = ConfigDict(frozen=True)
    total: int
    counts_by_status: dict[str, int]
    limit: int
    offset: int
    items: list[InferenceEntry]


def current_alert_kinds(
    session: Session, model_sha256: str, site_id: str, starts: Iterable[dt.datetime]
) -> dict[dt.datetime, set[str]]:
    """Alert kinds each window start has in its current version (before this publication is stored)."""
    wanted = set(starts)
    if not wanted:
        return {}
    a, current = MonitoringAlertRecord, current_windows(model_sha256, site_id)
    rows = session.execute(
        select(a.window_start, a.kind).join(current, _is_current(current, a.publication_id, a.window_start))
    ).all()
    kinds: dict[dt.datetime, set[str]] = {}
    for start, kind in rows:
        if as_utc(start) in wanted:
            kinds.setdefault(as_utc(start), set()).add(kind)
    return kinds


def current_windows(model_sha256: str | None = None, site_id: str | None = None) -> Subquery:
    """Per (model, site, window start), the id of the last publication received that holds it."""
    w = MonitoringWindowRecord
    stmt = select(w.window_start, func.max(w.publication_id).label("publication_id")).group_by(
        w.model_sha256, w.site_id, w.window_start
    )
    if model_sha256 is not None:
        stmt = stmt.where(w.model_sha256 == model_sha256)
    if site_id is not None:
        stmt = stmt.where(w.site_id == site_id)
    return stmt.subquery("current_window")


def _is_current(current: Subquery, publication_id: Any, window_start: Any) -> ColumnElement[bool]:
    # A publication id fixes the model and site, so (publication, window start) names one window version.
    return and_(publication_id == current.c.publication_id, window_start == current.c.window_start)


def timeline(session: Session, model_sha256: str, site_id: str) -> list[MonitoringWindow]:
    """The model's windows at the site, oldest first, each in its latest published version."""
    w, current = MonitoringWindowRecord, current_windows(model_sha256, site_id)
    stmt = select(w.body).join(current, _is_current(current, w.publication_id, w.window_start))
    bodies = session.execute(stmt.order_by(w.window_start)).scalars().all()
    return [MonitoringWindow.model_validate(body) for body in bodies]


def _latest_publication(session: Session, model_sha256: str, site_id: str) -> MonitoringPublicationRecord | None:
    p = MonitoringPublicationRecord
    return session.execute(
        select(p).where(p.model_sha256 == model_sha256, p.site_id == site_id).order_by(p.id.desc()).limit(1)
    ).scalar_one_or_none()


def site_timeline(session: Session, model_sha256: str, site_id: str) -> SiteTimeline:
    """The model's monitoring at the site with the latest publication's policy; 404 when the site never published."""
    latest = _latest_publication(session, model_sha256, site_id)
    if latest is None:
        raise NotFoundError(f"no monitoring of model {model_sha256[:16]}… at {site_id[:64]!r}")
    model = session.get(RegisteredModel, model_sha256)
    return SiteTimeline(
        model_sha256=model_sha256,
        site_id=site_id,
        model_name=model.name if model else latest.model_name,
        model_version=model.version if model else latest.model_version,
        report_id=latest.report_id,
        policy=MonitoringPolicy.model_validate(latest.policy),
        last_received_at=as_utc(latest.received_at),
        windows=timeline(session, model_sha256, site_id),
    )


def model_timelines(session: Session, model_sha256: str, site_id: str | None = None) -> list[SiteTimeline]:
    """A registered model's monitoring at every site that published (or at `site_id` only), by site."""
    if session.get(RegisteredModel, model_sha256) is None:
        raise NotFoundError(f"model {model_sha256[:16]}… is not registered on the hub")
    p = MonitoringPublicationRecord
    stmt = select(p.site_id).where(p.model_sha256 == model_sha256).distinct().order_by(p.site_id)
    if site_id is not None:
        stmt = stmt.where(p.site_id == site_id)
    return [site_timeline(session, model_sha256, site) for site in session.execute(stmt).scalars()]


def monitored(session: Session) -> list[MonitoredDeployment]:
    """Every (model, site) that published monitoring, with its latest window; by model name, then site."""
    p = MonitoringPublicationRecord
    pairs = session.execute(
        select(p.model_sha256, p.site_id, func.max(p.received_at)).group_by(p.model_sha256, p.site_id)
    ).all()
    rows = []
    w = MonitoringWindowRecord
    for sha, site_id, received in pairs:
        model, site = session.get(RegisteredModel, sha), session.get(Site, site_id)
        assert model is not None and site is not None  # foreign keys of the publication
        current = current_windows(sha, site_id)
        body = session.execute(
            select(w.body)
            .join(current, _is_current(current, w.publication_id, w.window_start))
            .order_by(w.window_start.desc())
            .limit(1)
        ).scalar_one_or_none()
        rows.append(
            MonitoredDeployment(
                model_sha256=sha,
                model_name=model.name,
                model_version=model.version,
                site_id=site_id,
                site_name_ko=site.name_ko,
                site_name_en=site.name_en,
                last_received_at=as_utc(received),
                latest=MonitoringWindow.model_validate(body) if body is not None else None,
            )
        )
    return sorted(rows, key=lambda r: (r.model_name, r.model_sha256, r.site_id))


def alerts(
    session: Session,
    model_sha256: str | None = None,
    site_id: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 500,
) -> list[AlertRecord]:
    """Alerts of the current window versions, newest window first; `since`: windows that end after it."""
    a, current = MonitoringAlertRecord, current_windows(model_sha256, site_id)
    stmt = select(a).join(current, _is_current(current, a.publication_id, a.window_start))
    if since is not None:
        stmt = stmt.where(a.window_end > as_utc(since, "since"))  # windows are [start, end)
    stmt = stmt.order_by(a.window_start.desc(), a.model_sha256, a.site_id, a.id).limit(limit)
    return [
        AlertRecord(
            model_sha256=r.model_sha256,
            site_id=r.site_id,
            window_start=as_utc(r.window_start),
            window_end=as_utc(r.window_end),
            kind=r.kind,
            severity=r.severity,
            subject=r.subject,
            value=r.value,
            threshold=r.threshold,
            message_en=r.message_en,
            message_ko=r.message_ko,
        )
        for r in session.execute(stmt).scalars()
    ]


def inferences(
    session: Session,
    model_sha256: str,
    site_id: str,
    status: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> InferencePage:
    """A page of the model's inference audit at the site, newest first, with counts per HTTP status."""
    if session.get(RegisteredModel, model_sha256) is None:
        raise NotFoundError(f"model {model_sha256[:16]}… is not registered on the hub")
    i = InferenceRecord
    where: list[ColumnElement[bool]] = [i.model_sha256 == model_sha256, i.site_id == site_id]
    if since is not None:
        where.append(i.at >= as_utc(since, "since"))
    if until is not None:
        where.append(i.at < as_utc(until, "until"))
    counts = Counter(
        {
            str(code): int(n)
            for code, n in session.execute(select(i.status, func.count()).where(*where).group_by(i.status)).all()
        }
    )
    if status is not None:
        where.append(i.status == status)
    total = counts.get(str(status), 0) if status is not None else sum(counts.values())
    rows = session.execute(select(i).where(*where).order_by(i.at.desc(), i.id.desc()).limit(limit).offset(offset))
    items = [
        InferenceEntry(
            at=as_utc(r.at),
            service_id=r.service_id,
            hook_instance=r.hook_instance,
            model_sha256=r.model_sha256,
            model_version=r.model_version,
            status=r.status,
            reason=r.reason,
            probability=r.probability,
            indicator=r.indicator,
            card_uuid=r.card_uuid,
            latency_ms=r.latency_ms,
            feedback=r.feedback,
        )
        for r in rows.scalars()
    ]
    return InferencePage(
        total=total, counts_by_status=dict(sorted(counts.items())), limit=limit, offset=offset, items=items
    )
