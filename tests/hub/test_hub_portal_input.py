"""Bad input at the portal and API: clear 4xx, nothing half-saved, refusals audited."""

from __future__ import annotations

import datetime as dt

from portal_helpers import api_tokens, login, make_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.db.models import Application, AuditEntry, WebSession

TODAY = dt.date.today()
PDF = {"irb_document": ("irb.pdf", b"%PDF-1.4 IRB approval", "application/pdf")}


def _form(**overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "title": "Portal study",
        "purpose": "A study submitted through the portal form.",
        "irb_number": "IRB-2026-9",
        "applicant_affiliation": "Portal University Hospital",
        "dataset_ids": ["site-1-cdm"],
        "analysis_types": ["feasibility"],
        "period_start": str(TODAY),
        "period_end": str(TODAY + dt.timedelta(days=30)),
        "submission_key": "portal-key-0001",
        "dua_accepted": "true",
    }
    form.update(overrides)
    return form


def _applications(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.execute(select(func.count()).select_from(Application)).scalar_one())


def test_portal_csrf_missing_or_forged_refused_and_audited(hub_url: str, hub: sessionmaker[Session]) -> None:
    client, csrf = login(make_app(hub_url), "researcher")
    assert client.post("/applications", data=_form(), files=PDF).status_code == 403
    assert client.post("/applications", data={**_form(), "csrf_token": "forged"}, files=PDF).status_code == 403
    assert _applications(hub) == 0
    with hub() as s:
        reasons = [
            e.detail["reason"] for e in s.execute(select(AuditEntry).where(AuditEntry.outcome == "deny")).scalars()
        ]
    assert sum("CSRF" in r for r in reasons) == 2
    assert client.post("/applications", data={**_form(), "csrf_token": csrf}, files=PDF).status_code == 303
    assert _applications(hub) == 1


def test_portal_duplicate_submission_conflicts(hub_url: str, hub: sessionmaker[Session]) -> None:
    client, csrf = login(make_app(hub_url), "researcher")
    first = client.post("/applications", data={**_form(), "csrf_token": csrf}, files=PDF)
    again = client.post("/applications", data={**_form(), "csrf_token": csrf}, files=PDF)
    assert (first.status_code, again.status_code) == (303, 409)
    assert "duplicate" in again.text
    assert _applications(hub) == 1


def test_portal_malformed_and_oversized_fields_refused(hub_url: str, hub: sessionmaker[Session]) -> None:
    app = make_app(hub_url, max_form_bytes=20_000)
    client, csrf = login(app, "researcher")
    cases = {
        "missing DUA": ({**_form(), "dua_accepted": "false", "submission_key": "k-dua-0001"}, 400),
        "unknown dataset": ({**_form(dataset_ids=["nope"]), "submission_key": "k-unknown-1"}, 404),
        "bad date": ({**_form(period_end="31/12/2026"), "submission_key": "k-date-0001"}, 422),
        "end before start": (
            {**_form(period_end=str(TODAY - dt.timedelta(days=1))), "submission_key": "k-end-0001"},
            400,
        ),
        "bad analysis type": ({**_form(analysis_types=["export_rows"]), "submission_key": "k-type-0001"}, 400),
        "title too long": ({**_form(title="x" * 301), "submission_key": "k-long-0001"}, 422),
        "purpose too long": ({**_form(purpose="x" * 6_000), "submission_key": "k-long-0002"}, 422),
        "no affiliation": ({**_form(applicant_affiliation=" "), "submission_key": "k-affil-001"}, 400),
    }
    files: dict[str, dict[str, tuple[str, bytes, str]]] = {
        "no IRB document": {},
        "not a PDF": {"irb_document": ("irb.pdf", b"<html>not a pdf</html>", "application/pdf")},
        "oversized body": {"irb_document": ("irb.pdf", b"%PDF-" + b"x" * 6_000_000, "application/pdf")},
    }
    expected = {"no IRB document": 400, "not a PDF": 400, "oversized body": 413}
    for name, (form, status) in cases.items():
        response = client.post("/applications", data={**form, "csrf_token": csrf}, files=PDF)
        assert response.status_code == status, (name, response.status_code, response.text[:300])
    for name, upload in files.items():
        form = {**_form(), "submission_key": f"k-file-{len(name):04d}", "csrf_token": csrf}
        response = client.post("/applications", data=form, files=upload or None)
        assert response.status_code == expected[name], (name, response.status_code, response.text[:300])
    assert _applications(hub) == 0


def test_portal_expired_session_sends_to_login(hub_url: str, hub: sessionmaker[Session]) -> None:
    client, _csrf = login(make_app(hub_url), "drb1")
    with hub() as s, s.begin():
        s.execute(update(WebSession).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    response = client.get("/review")
    assert response.status_code == 303 and response.headers["location"] == "/login?expired=1"
    with hub() as s:
        assert s.execute(select(func.count()).select_from(WebSession)).scalar_one() == 0


def test_api_bad_token_and_body(hub_url: str, hub: sessionmaker[Session]) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(make_app(hub_url), base_url="https://testserver")
    assert client.get("/api/v1/datasets", headers={"authorization": "Bearer wrong"}).status_code == 401
    token = api_tokens(hub)["researcher"]
    auth = {"authorization": f"Bearer {token}"}
    body = {
        "title": "api",
        "purpose": "purpose long enough",
        "irb_number": "IRB-1",
        "dataset_ids": ["site-1-cdm"],
        "analysis_types": ["feasibility"],
        "period_start": str(TODAY),
        "period_end": str(TODAY + dt.timedelta(days=3)),
        "dua_accepted": True,
    }
    assert client.post("/api/v1/applications", json={**body, "extra": 1}, headers=auth).status_code == 422
    assert client.post("/api/v1/applications", content=b"{not json", headers=auth).status_code == 422
    created = client.post("/api/v1/applications", json={**body, "submission_key": "api-dup-001"}, headers=auth)
    assert created.status_code == 201 and created.json()["sites"] == {"site-1": "pending"}
    again = client.post("/api/v1/applications", json={**body, "submission_key": "api-dup-001"}, headers=auth)
    assert again.status_code == 409
    assert _applications(hub) == 1


def test_portal_security_headers_and_cookie_flags(hub_url: str, hub: sessionmaker[Session]) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(make_app(hub_url), base_url="https://testserver", follow_redirects=False)
    page = client.get("/login")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    response = client.post(
        "/login", data={"username": "admin", "password": "correct-horse-battery", "csrf_token": token[1]}
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
