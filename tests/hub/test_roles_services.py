"""Role pages and notifications through the portal (TestClient) on a real store, with a real SMTP sink."""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
from collections.abc import Iterator

import pytest
from hub_monitoring_helpers import publication, register
from portal_helpers import application_and_grant, login, make_app
from roles_helpers import SmtpSink, reference_card, smtp_sink
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.db.models import AuditEntry, DeploymentApproval, Grant
from dari.hub.db.roles_tables import Notification
from dari.hub.governance.deployment import deployment_allowed, record_deployment, register_model, submit_report
from dari.hub.governance.users import get_user
from dari.hub.monitoring import ingest_publication
from dari.hub.notifications import (
    MAX_MAIL_ATTEMPTS,
    deliver_mail,
    notify,
    notify_expiring,
    set_address,
    unread_count,
)


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with smtp_sink() as found:
        yield found


def _kinds(factory: sessionmaker[Session], username: str) -> list[str]:
    with factory() as s:
        user = get_user(s, username)
        return [n.kind for n in s.execute(select(Notification).where(Notification.user_id == user.id)).scalars()]


def _links(factory: sessionmaker[Session], username: str, kind: str) -> set[str]:
    with factory() as s:
        user = get_user(s, username)
        query = select(Notification.link).where(Notification.user_id == user.id, Notification.kind == kind)
        return set(s.execute(query).scalars())


def test_roles_deployment_approve_withdraw_vendor_and_clinician_pages(
    hub_url: str, hub: sessionmaker[Session], sink: SmtpSink
) -> None:
    # Prepare
    report = register(hub)
    with hub() as s, s.begin():
        set_address(s, get_user(s, "vendor"), "vendor-approve@dari.example")
    app = make_app(hub_url, smtp=sink.settings)
    client, csrf = login(app, "approver1")
    assert "report_submitted" in _kinds(hub, "approver1")
    # Execute: the queue lists the report as pending; without the box ticked or a reason nothing is approved
    queue = client.get("/approvals")
    reason = "AI 위원회 2026-12 의결"
    unticked = client.post(f"/approvals/{report}/approve", data={"csrf_token": csrf, "reason": reason})
    no_reason = client.post(f"/approvals/{report}/approve", data={"csrf_token": csrf, "confirm": "yes"})
    with hub() as s:
        refused = deployment_allowed(s, "ab" * 32, "site-1").allowed
    ticked = client.post(f"/approvals/{report}/approve", data={"csrf_token": csrf, "confirm": "yes", "reason": reason})
    # Assert
    assert queue.status_code == 200 and report in queue.text and "승인 대기" in queue.text
    assert unticked.status_code == 409 and no_reason.status_code == 409 and not refused
    assert ticked.status_code == 303
    with hub() as s:
        assert deployment_allowed(s, "ab" * 32, "site-1").allowed
        approve = s.execute(select(AuditEntry).where(AuditEntry.action == "deployment.approve")).scalar_one()
    assert approve.actor == "approver1" and approve.detail["reason"] == reason
    assert "report_approved" in _kinds(hub, "vendor")
    mail = sink.wait_for("vendor-approve@dari.example", subject_has=report)
    assert report in str(mail["Subject"]) and "/vendor" in mail.get_content()
    # Withdrawal: a reason is required, then the gate says no at once
    no_reason = client.post(f"/approvals/{report}/withdraw", data={"csrf_token": csrf, "confirm": "yes"})
    withdrawn = client.post(
        f"/approvals/{report}/withdraw", data={"csrf_token": csrf, "confirm": "yes", "reason": "보정 이탈 확인"}
    )
    assert no_reason.status_code == 409 and withdrawn.status_code == 303
    with hub() as s:
        assert not deployment_allowed(s, "ab" * 32, "site-1").allowed
        approval = s.execute(select(DeploymentApproval)).scalar_one()
        assert approval.withdraw_reason == "보정 이탈 확인"
    assert "report_withdrawn" in _kinds(hub, "vendor")
    # Each is told with a link to a page their role may open.
    assert _links(hub, "vendor", "report_withdrawn") == {"/vendor"}
    assert _links(hub, "clinician", "report_approved") == {"/clinician"}
    assert _links(hub, "approver1", "report_withdrawn") == {"/approvals"}
    assert client.get("/approvals").status_code == 200
    vendor, _ = login(app, "vendor")
    assert "보정 이탈 확인" in vendor.get("/vendor").text
    assert vendor.get("/approvals").status_code == 403
    _vendor_sees_reports_alerts_and_clinician_feedback(hub_url, hub)


def _vendor_sees_reports_alerts_and_clinician_feedback(hub_url: str, hub: sessionmaker[Session]) -> None:
    # Prepare: the reference model (a CHAI card) approved at site-1, drifting there
    sha, card = reference_card()
    with hub() as s, s.begin():
        register_model(s, get_user(s, "vendor"), sha, card)
        results = {"sites_covered": ["site-1", "site-2"], "pooled": {"n": 900, "events": 120, "auroc": 0.8}}
        report = submit_report(s, get_user(s, "vendor"), sha, results).id
    app = make_app(hub_url)
    approver, csrf_a = login(app, "approver1")
    assert (
        approver.post(
            f"/approvals/{report}/approve", data={"csrf_token": csrf_a, "confirm": "yes", "reason": "의결"}
        ).status_code
        == 303
    )
    with hub() as s, s.begin():
        ingest_publication(s, get_user(s, "steward1"), publication(sha=sha, report_id=report, per_week=2))
    # Execute
    clinician, csrf_c = login(app, "clinician")
    listing = clinician.get("/clinician")
    page = clinician.get(f"/clinician/models/{sha}")
    bad = clinician.post(
        f"/clinician/models/{sha}/feedback", data={"csrf_token": csrf_c, "rating": "great", "comment": "x"}
    )
    sent = clinician.post(
        f"/clinician/models/{sha}/feedback",
        data={"csrf_token": csrf_c, "rating": "wrong", "comment": "eGFR 단위가 맞지 않는 것 같습니다"},
    )
    identifying = clinician.post(
        f"/clinician/models/{sha}/feedback",
        data={"csrf_token": csrf_c, "rating": "wrong", "comment": "환자 800101-1234568 결과가 이상합니다"},
    )
    other = clinician.get(f"/clinician/models/{'cd' * 32}")
    vendor, _ = login(app, "vendor")
    with hub() as s, s.begin():
        record_deployment(s, "it-site1", sha, "site-1")  # allowed: the approval holds
        record_deployment(s, "it-site2", sha, "site-2")  # refused: site-2 has not approved
    vendor_page = vendor.get("/vendor")
    # Assert
    assert card["name"] in listing.text
    assert page.status_code == 200 and card["intended_use"]["ko"] in page.text and 'id="card-not-chai"' not in page.text
    assert bad.status_code == 400 and "rating" in bad.text
    assert sent.status_code == 303
    assert identifying.status_code == 400 and "resident registration number" in identifying.text
    assert "800101-1234568" not in identifying.text  # the error names the kind, never the value
    assert other.status_code == 404
    assert "eGFR 단위가 맞지 않는 것 같습니다" in vendor_page.text
    deployments = re.search(r'<table id="vendor-deployments">.*?</table>', vendor_page.text, re.S)
    assert deployments and "it-site1" in deployments[0] and report in deployments[0]
    assert "it-site2" in deployments[0] and "deny" in deployments[0]
    assert "점수 분포가 크게 변했습니다" in vendor_page.text  # the drift alert
    row = re.search(rf'data-report="{report}" data-site="site-1">.*?</tr>', vendor_page.text, re.S)
    assert row and 'class="state-approved"' in row[0]
    kinds = _kinds(hub, "vendor")
    assert kinds.count("drift_alert") == 1  # one unread notice per model and site, however many windows alerted
    assert "model_feedback" in kinds and "model_feedback" in _kinds(hub, "approver1")
    assert "drift_alert" in _kinds(hub, "steward1")
    assert "eGFR 단위가" in approver.get("/approvals").text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


def test_roles_notifications_cli_page_bell_and_email(
    hub_url: str, hub: sessionmaker[Session], sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    from typer.testing import CliRunner

    from dari.cli.app import app as cli

    # Prepare: the researcher's grant ends in 3 days; the researcher gives an address in the portal
    _pending, _approved, grant_id = application_and_grant(hub)
    with hub() as s, s.begin():
        grant = s.get(Grant, grant_id)
        assert grant is not None
        grant.valid_until = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    address = f"kim-{hub_url.partition(':')[0].isalpha()}-{grant_id[-6:]}@hospital.kr"
    client, csrf = login(make_app(hub_url), "researcher")
    bad = client.post("/notifications/email", data={"csrf_token": csrf, "address": "not an address"})
    good = client.post("/notifications/email", data={"csrf_token": csrf, "address": address})
    args = ["hub", "notify-expiring", "--db", hub_url, "--smtp-host", "127.0.0.1", "--no-starttls"]
    args += ["--smtp-port", str(sink.settings.port), "--smtp-from", "hub@dari.example"]
    # Execute: the CLI check twice, then the page (whose own check must not repeat the notice)
    first = CliRunner().invoke(cli, args)
    second = CliRunner().invoke(cli, args)
    page = client.get("/notifications")
    catalog = client.get("/catalog")
    client.post("/notifications/read", data={"csrf_token": csrf})
    after = client.get("/catalog")
    # Assert
    assert bad.status_code == 400 and "email" in bad.text
    assert good.status_code == 303 and f'value="{address}"' in page.text
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "1" and second.stdout.strip() == "0"
    mailed = [m for m in sink.messages if m["To"] == address and grant_id in str(m["Subject"])]
    assert len(mailed) == 1  # mailed once, not again by the second run
    # The decision came before the address was given: it stays in the portal, not mailed.
    assert not [m for m in sink.messages if m["To"] == address and "연구 신청" in str(m["Subject"])]
    assert sorted(_kinds(hub, "researcher")) == ["application_decided", "grant_expiring"]
    assert _kinds(hub, "drb2a") == ["application_submitted"]  # the site-2 request; drb3's site was not asked
    assert _kinds(hub, "drb1").count("application_submitted") == 2 and _kinds(hub, "drb3") == []
    assert grant_id in page.text and page.text.count('data-kind="grant_expiring"') == 1
    assert re.search(r'id="bell-count">2<', catalog.text)
    assert 'id="bell-count"' not in after.text
    with hub() as s:
        assert unread_count(s, get_user(s, "researcher")) == 0
        assert notify_expiring(s) == 0
    # A dead SMTP server: attempts are counted, nothing is marked mailed, the log names neither address nor subject
    with hub() as s, s.begin():
        notify(s, get_user(s, "researcher"), "drift_alert", "가", "a", "/monitoring")
    dead = sink.settings.model_copy(update={"port": _closed_port()})
    with caplog.at_level(logging.WARNING, logger="dari.hub.notifications"):
        tries = [deliver_mail(hub, dead) for _ in range(MAX_MAIL_ATTEMPTS + 1)]
    with hub() as s:
        note = s.execute(select(Notification).where(Notification.subject_en == "a")).scalar_one()
    assert tries == [0] * (MAX_MAIL_ATTEMPTS + 1) and note.mailed_at is None
    assert note.mail_attempts == MAX_MAIL_ATTEMPTS  # not tried again after the last attempt
    assert "failed" in caplog.text and address not in caplog.text and "가" not in caplog.text
    with hub() as s, pytest.raises(ValueError, match="kind"):
        notify(s, get_user(s, "researcher"), "unknown_kind", "가", "a", "/x")
    with hub() as s, pytest.raises(ValueError, match="link"):
        notify(s, get_user(s, "researcher"), "drift_alert", "가", "a", "https://elsewhere.example")


def test_roles_steward_site_record_signoff_and_jobs(hub_url: str, hub: sessionmaker[Session]) -> None:
    # Prepare: a job ticket audited for site-1
    from dari.hub import audit

    with hub() as s, s.begin():
        audit.record(
            s,
            actor="researcher",
            action="job.ticket",
            target="dataset:site-1-cdm",
            detail={"job": "job-feas-7", "site": "site-1", "analysis_type": "feasibility", "grant": "grant-x"},
        )
        audit.record(
            s,
            actor="researcher",
            action="job.ticket",
            target="dataset:site-2-cdm",
            detail={"job": "job-other", "site": "site-2"},
        )
    app = make_app(hub_url)
    client, csrf = login(app, "steward1")
    sha = "0f" * 32
    # Execute
    before = client.get("/site")
    bad = client.post(
        "/site/signoffs",
        data={"csrf_token": csrf, "dataset_id": "site-1-cdm", "report_sha256": "xyz", "verdict": "pass"},
    )
    foreign = client.post(
        "/site/signoffs", data={"csrf_token": csrf, "dataset_id": "site-2-cdm", "report_sha256": sha, "verdict": "pass"}
    )
    signed = client.post(
        "/site/signoffs",
        data={
            "csrf_token": csrf,
            "dataset_id": "site-1-cdm",
            "report_sha256": sha,
            "verdict": "pass",
            "note": "k=5 충족",
        },
    )
    after = client.get("/site")
    # Assert
    assert "미승인" in before.text and "job-feas-7" in before.text and "job-other" not in before.text
    assert bad.status_code == 400 and "report_sha256" in bad.text
    assert foreign.status_code == 403
    assert signed.status_code == 303 and "적합" in after.text and "k=5 충족" in after.text
    with hub() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "pseudonymisation.signoff")).scalar_one()
    vendor, _ = login(app, "vendor")
    assert vendor.get("/site").status_code == 403
