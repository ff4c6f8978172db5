"""Monitoring on the hub, services and store (SQLite and PostgreSQL): ingest, latest version wins, queries, audit."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hub_monitoring_helpers import MODEL_SHA, OTHER_SHA, START, inference, publication, register, window
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.hub import audit
from dari.hub.db.engine import alembic_config, migrate
from dari.hub.db.models import AuditEntry, Base, InferenceRecord, MonitoringPublicationRecord
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError
from dari.hub.governance.users import get_user
from dari.hub.monitoring import alerts, inferences, ingest_publication, model_timelines, monitored, timeline
from dari.hub.monitoring_checks import PublicationError
from dari.monitoring.publication import MonitoringPublication


def _publish(factory: sessionmaker[Session], pub: MonitoringPublication, by: str = "steward1") -> str:
    with factory() as s, s.begin():
        return ingest_publication(s, get_user(s, by), pub)


def _audit(factory: sessionmaker[Session], action: str) -> list[AuditEntry]:
    with factory() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).scalars())


def test_monitoring_migration_matches_models_and_downgrades(hub: sessionmaker[Session]) -> None:
    engine = hub.kw["bind"]
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    cfg = alembic_config()  # down to 0002 and up again: both directions of 0003 run
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0002")
    migrate(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_ingest_stores_windows_alerts_inferences_and_audits(hub: sessionmaker[Session]) -> None:
    # Prepare
    report = register(hub, approve=True)
    pub = publication(report_id=report, weeks=6, shift_from=4, per_week=10)
    # Execute
    publication_id = _publish(hub, pub)
    # Assert
    assert publication_id.startswith("mon-")
    with hub() as s:
        windows = timeline(s, MODEL_SHA, "site-1")
        assert [w.start for w in windows] == [START + dt.timedelta(weeks=k) for k in range(6)]
        assert windows[5].alerts == pub.windows[5].alerts and windows[0].alerts == []
        assert windows[2] == pub.windows[2]  # what was published comes back unchanged
        found = alerts(s, MODEL_SHA, "site-1")
        assert len(found) == 8 and {a.window_start for a in found} == {windows[4].start, windows[5].start}
        assert found[0].window_start == windows[5].start  # newest window first
        page = inferences(s, MODEL_SHA, "site-1", limit=5)
        assert page.total == 60 and page.counts_by_status == {"200": 54, "412": 6}
        assert [e.at for e in page.items] == sorted((e.at for e in pub.inferences), reverse=True)[:5]
        assert audit.verify(s).ok
    published = _audit(hub, "monitoring.publish")
    assert len(published) == 1 and published[0].detail == {
        "site": "site-1",
        "publication": publication_id,
        "windows": 6,
        "inferences": 60,
        "alerts": 8,
    }
    raised = _audit(hub, "monitoring.alert")
    assert sorted((e.detail["window_start"][:10], e.detail["kind"], e.outcome) for e in raised) == [
        (day, kind, "critical" if kind == "score_drift" else "warning")
        for day in ("2026-10-05", "2026-10-12")
        for kind in ("calibration", "discrimination", "input_drift", "score_drift")
    ]
    # No identifier of a call (hook instance, card) reaches the audit log.
    text = json.dumps([e.detail for e in published + raised])
    assert "00000000-0000-4000" not in text and "card-" not in text


def test_republished_window_latest_version_wins(hub: sessionmaker[Session]) -> None:
    # Prepare: weeks 0-5, shifted from week 4 (alerts in weeks 4 and 5)
    register(hub)
    _publish(hub, publication(weeks=6, shift_from=4))
    # Execute: the site publishes weeks 4-7 again, now without any shift (alerts gone from weeks 4 and 5)
    _publish(hub, publication(first_week=4, weeks=4, shift_from=99))
    # Assert
    with hub() as s:
        windows = timeline(s, MODEL_SHA, "site-1")
        assert len(windows) == 8 and all(not w.alerts for w in windows)
        assert alerts(s) == []
        assert s.execute(select(MonitoringPublicationRecord.id)).scalars().all() == [1, 2]  # both kept
        overview = monitored(s)
        assert len(overview) == 1 and overview[0].latest == windows[-1]
    assert len(_audit(hub, "monitoring.alert")) == 8  # from the first publication only


def test_same_alerts_published_again_are_audited_once(hub: sessionmaker[Session]) -> None:
    register(hub)
    pub = publication(weeks=5, shift_from=4)
    _publish(hub, pub)
    _publish(hub, pub)
    with hub() as s:
        assert len(alerts(s, MODEL_SHA)) == 4  # the current version of week 4 only, not two copies
    assert len(_audit(hub, "monitoring.alert")) == 4
    assert len(_audit(hub, "monitoring.publish")) == 2


def test_inference_published_again_replaced_with_its_feedback(hub: sessionmaker[Session]) -> None:
    register(hub)
    _publish(hub, publication(weeks=1, per_week=10))
    # A later part with calls only (how a site sends a long history): one call again with its feedback, one new.
    later = publication(weeks=1, per_week=0).model_copy(
        update={"windows": [], "inferences": [inference(0, 3, feedback="overridden"), inference(1, 0)]}
    )
    _publish(hub, later)
    with hub() as s:
        assert len(timeline(s, MODEL_SHA, "site-1")) == 1 and monitored(s)[0].latest is not None
        page = inferences(s, MODEL_SHA, "site-1", limit=100)
        assert page.total == 11  # ten from the first publication, one new
        third = next(e for e in page.items if e.hook_instance.endswith("000000000003"))
        assert third.feedback == "overridden"
        assert s.query(InferenceRecord).count() == 11


def test_inference_filters_and_pages(hub: sessionmaker[Session]) -> None:
    register(hub)
    _publish(hub, publication(weeks=3, per_week=10))
    week1 = START + dt.timedelta(weeks=1)
    with hub() as s:
        refused = inferences(s, MODEL_SHA, "site-1", status=412)
        assert refused.total == 3 and all(e.status == 412 for e in refused.items)
        assert refused.counts_by_status == {"200": 27, "412": 3}  # counts ignore the status filter
        one_week = inferences(s, MODEL_SHA, "site-1", since=week1, until=week1 + dt.timedelta(weeks=1))
        assert one_week.total == 10 and all(week1 <= e.at < week1 + dt.timedelta(weeks=1) for e in one_week.items)
        pages = [inferences(s, MODEL_SHA, "site-1", limit=7, offset=o).items for o in range(0, 30, 7)]
        flat = [e.at for p in pages for e in p]
        assert len(flat) == 30 and len(set(flat)) == 30 and flat == sorted(flat, reverse=True)
        assert inferences(s, MODEL_SHA, "site-2").total == 0
        with pytest.raises(NotFoundError):
            inferences(s, OTHER_SHA, "site-1")


def test_alert_filters_by_model_site_and_time(hub: sessionmaker[Session]) -> None:
    register(hub)
    register(hub, OTHER_SHA)
    _publish(hub, publication(weeks=6, shift_from=4))
    _publish(hub, publication(site_id="site-2", weeks=6, shift_from=5), by="steward2")
    _publish(hub, publication(sha=OTHER_SHA, weeks=6, shift_from=3))
    with hub() as s:
        assert len(alerts(s)) == 4 * (2 + 1 + 3)
        assert len(alerts(s, MODEL_SHA)) == 4 * 3
        assert {a.site_id for a in alerts(s, site_id="site-2")} == {"site-2"}
        assert len(alerts(s, MODEL_SHA, "site-1", since=START + dt.timedelta(weeks=5, days=3))) == 4
        assert len(alerts(s, limit=5)) == 5
        assert [t.site_id for t in model_timelines(s, MODEL_SHA)] == ["site-1", "site-2"]


def test_refusals_name_the_problem(hub: sessionmaker[Session]) -> None:
    report = register(hub)
    other_report = register(hub, OTHER_SHA)
    cases: list[tuple[str, MonitoringPublication, type[Exception], str]] = [
        ("steward2", publication(), ForbiddenError, "may not publish monitoring of 'site-1'"),
        ("researcher", publication(), ForbiddenError, "may not publish"),
        ("steward1", publication(sha="ef" * 32), NotFoundError, "not registered"),
        ("admin", publication(site_id="site-9"), NotFoundError, "unknown site 'site-9'"),
        ("steward1", publication(report_id="report-unknown"), NotFoundError, "unknown validation report"),
        ("steward1", publication(report_id=other_report), ConflictError, "of another model"),
    ]
    bad_window = window(0, shifted=False).model_copy(update={"end": START - dt.timedelta(days=1)})
    bad_entry = inference(0, 0).model_copy(update={"model_sha256": OTHER_SHA})
    nan_window = window(0, shifted=False).model_copy(
        update={"activity": window(0, shifted=False).activity.model_copy(update={"latency_p95_ms": float("nan")})}
    )
    malformed = {
        "windows[0].end must be after its start": {"windows": [bad_window]},
        "windows[1].start: two windows start": {"windows": [window(0, shifted=False)] * 2},
        "inferences[0].model_sha256 differs": {"inferences": [bad_entry]},
        "windows[0].activity.latency_p95_ms must be a finite number": {"windows": [nan_window]},
        "inferences[0].hook_instance must have at most 200": {
            "inferences": [inference(0, 0).model_copy(update={"hook_instance": "x" * 201})]
        },
        "inferences[0].reason must not contain NUL": {
            "inferences": [inference(0, 0).model_copy(update={"reason": "a\x00b"})]
        },
    }
    cases += [
        ("steward1", publication(report_id=report).model_copy(update=u), PublicationError, m)
        for m, u in malformed.items()
    ]
    for who, pub, error, message in cases:
        with hub() as s, s.begin(), pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
            ingest_publication(s, get_user(s, who), pub)
    with hub() as s:
        assert s.query(MonitoringPublicationRecord).count() == 0  # nothing half-stored


def test_naive_times_read_as_utc(hub: sessionmaker[Session]) -> None:
    register(hub)
    end = START + dt.timedelta(weeks=1)
    naive = window(0, shifted=False).model_copy(
        update={"start": START.replace(tzinfo=None), "end": end.replace(tzinfo=None)}
    )
    _publish(hub, publication(weeks=1).model_copy(update={"windows": [naive]}))
    with hub() as s:
        assert timeline(s, MODEL_SHA, "site-1")[0].start == START
