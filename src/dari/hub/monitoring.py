"""Monitoring of deployed models on the hub: a site's steward publishes, the hub stores and audits.

A site publishes a `MonitoringPublication` (windows of use with drift, live performance and alerts, and its inference
audit without identifiers). Every publication is kept; of the versions of a window (same model, site and window
start) the one received last is read (`dari.hub.monitoring_queries`). Inference entries are kept once per call
(service, hook instance, time): a re-published entry replaces the stored one, so feedback that arrived later is kept.

Alerts are audited once per window and alert kind: a kind the window already had in an earlier version is not
recorded again when the window is re-published.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dari.hub import audit, notifications
from dari.hub.db.models import (
    InferenceRecord,
    MonitoringAlertRecord,
    MonitoringPublicationRecord,
    MonitoringWindowRecord,
    RegisteredModel,
    Site,
    User,
)
from dari.hub.governance.errors import ForbiddenError, NotFoundError
from dari.hub.governance.roles import SITE_ROLES, Permission, Role, allowed
from dari.hub.monitoring_checks import as_utc, check_publication, check_report
from dari.hub.monitoring_queries import (
    AlertRecord,
    InferencePage,
    MonitoredDeployment,
    SiteTimeline,
    alerts,
    current_alert_kinds,
    inferences,
    model_timelines,
    monitored,
    site_timeline,
    timeline,
)
from dari.monitoring.publication import Alert, InferenceEntry, MonitoringPublication, MonitoringWindow

__all__ = [
    "AlertRecord",
    "InferencePage",
    "MonitoredDeployment",
    "SiteTimeline",
    "alerts",
    "inferences",
    "ingest_publication",
    "may_publish",
    "may_see_inferences",
    "model_timelines",
    "monitored",
    "site_timeline",
    "timeline",
]
_IN_CHUNK = 500  # hook instances per IN (...) when looking for entries published before


def may_publish(actor: User, site_id: str) -> bool:
    """A platform admin, or the steward of the publishing site."""
    if actor.role == Role.PLATFORM_ADMIN:
        return True
    return allowed(actor.role, Permission.PUBLISH_MONITORING) and actor.site_id == site_id


def may_see_inferences(user: User, site_id: str) -> bool:
    """Per-call audits stay with the site: its own stewards, DRB members and approvers, and platform admins."""
    return user.role == Role.PLATFORM_ADMIN or (user.role in SITE_ROLES and user.site_id == site_id)


def ingest_publication(session: Session, actor: User, publication: MonitoringPublication) -> str:
    """Store a site's publication after checking who sends it and for which model; returns its id (audited)."""
    if not may_publish(actor, publication.site_id):
        raise ForbiddenError(
            f"{actor.role} of {actor.site_id or 'no site'} may not publish monitoring of {publication.site_id[:64]!r}"
        )
    windows, entries = check_publication(publication)  # before any look-up: the store never sees a bad value
    if session.get(Site, publication.site_id) is None:
        raise NotFoundError(f"unknown site {publication.site_id!r}")
    sha = publication.model_sha256
    if session.get(RegisteredModel, sha) is None:
        raise NotFoundError(f"model {sha[:16]}… is not registered on the hub")
    check_report(session, publication)
    record = MonitoringPublicationRecord(
        site_id=publication.site_id,
        model_sha256=sha,
        model_name=publication.model_name,
        model_version=publication.model_version,
        report_id=publication.report_id,
        schema_version=publication.schema_version,
        generated_at=as_utc(publication.generated_at, "generated_at"),
        published_by=actor.id,
        policy=publication.policy.model_dump(mode="json"),
        window_count=len(windows),
        inference_count=len(entries),
    )
    session.add(record)
    session.flush()
    known_kinds = current_alert_kinds(session, sha, publication.site_id, [w.start for w in windows])
    for window in windows:
        _store_window(session, record, window)
    _store_inferences(session, record, entries)
    audit.record(
        session,
        actor=actor.username,
        action="monitoring.publish",
        target=f"model:{sha[:16]}",
        detail={
            "site": publication.site_id,
            "publication": f"mon-{record.id}",
            "windows": len(windows),
            "inferences": len(entries),
            "alerts": sum(len(w.alerts) for w in windows),
        },
    )
    for window in windows:
        _audit_new_alerts(session, actor, record, window, known_kinds.get(window.start, set()))
    return f"mon-{record.id}"


def _store_window(session: Session, publication: MonitoringPublicationRecord, window: MonitoringWindow) -> None:
    row = MonitoringWindowRecord(
        publication_id=publication.id,
        model_sha256=publication.model_sha256,
        site_id=publication.site_id,
        window_start=window.start,
        window_end=window.end,
        calls=window.activity.calls,
        alert_count=len(window.alerts),
        body=window.model_dump(mode="json"),
    )
    session.add(row)
    session.flush()
    session.add_all(
        MonitoringAlertRecord(
            window_id=row.id,
            publication_id=publication.id,
            model_sha256=publication.model_sha256,
            site_id=publication.site_id,
            window_start=window.start,
            window_end=window.end,
            **alert.model_dump(),
        )
        for alert in window.alerts
    )


def _entry_key(service_id: str, hook_instance: str, at: dt.datetime) -> tuple[str, str, str]:
    return service_id, hook_instance, as_utc(at).isoformat()


def _store_inferences(
    session: Session, publication: MonitoringPublicationRecord, entries: Sequence[InferenceEntry]
) -> None:
    """Insert new calls; a call published before is replaced by this publication's version (later feedback)."""
    incoming = {_entry_key(e.service_id, e.hook_instance, e.at): e for e in entries}
    hooks = sorted({e.hook_instance for e in entries})
    for i in range(0, len(hooks), _IN_CHUNK):
        stored = session.execute(
            select(InferenceRecord).where(
                InferenceRecord.model_sha256 == publication.model_sha256,
                InferenceRecord.site_id == publication.site_id,
                InferenceRecord.hook_instance.in_(hooks[i : i + _IN_CHUNK]),
            )
        ).scalars()
        for row in stored:
            entry = incoming.pop(_entry_key(row.service_id, row.hook_instance, row.at), None)
            if entry is not None:
                for field, value in _entry_columns(entry).items():
                    setattr(row, field, value)
                row.publication_id = publication.id
    if incoming:
        rows = [
            {
                "publication_id": publication.id,
                "model_sha256": publication.model_sha256,
                "site_id": publication.site_id,
                **_entry_columns(e),
            }
            for e in incoming.values()
        ]
        session.execute(insert(InferenceRecord), rows)
    session.flush()


def _entry_columns(entry: InferenceEntry) -> dict[str, Any]:
    return entry.model_dump(exclude={"model_sha256"})


def _audit_new_alerts(
    session: Session, actor: User, publication: MonitoringPublicationRecord, window: MonitoringWindow, known: set[str]
) -> None:
    by_kind: dict[str, list[Alert]] = {}
    for alert in window.alerts:
        by_kind.setdefault(alert.kind, []).append(alert)
    for kind in sorted(by_kind.keys() - known):
        group = by_kind[kind]
        audit.record(
            session,
            actor=actor.username,
            action="monitoring.alert",
            target=f"model:{publication.model_sha256[:16]}",
            outcome="critical" if any(a.severity == "critical" for a in group) else "warning",
            detail={
                "site": publication.site_id,
                "publication": f"mon-{publication.id}",
                "kind": kind,
                "window_start": window.start.isoformat(),
                "window_end": window.end.isoformat(),
                "subjects": sorted({a.subject for a in group})[:20],
            },
        )
        notifications.notify_drift(session, publication.model_sha256, publication.site_id, group[0])
