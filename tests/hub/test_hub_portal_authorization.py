"""Authorization matrix: every role × every route of the portal and the API, allowed or refused on the server."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.routing import APIRoute
from hub_monitoring_helpers import MODEL_SHA, publication, register
from portal_helpers import ROLE_USERS, api_tokens, application_and_grant, login, make_app
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.db.models import AuditEntry
from dari.hub.governance.users import get_user
from dari.hub.monitoring import ingest_publication
from dari.hub.web.routes import (
    api,
    auth,
    catalog,
    drb_pages,
    feasibility,
    governance,
    monitoring_api,
    monitoring_pages,
    pages,
    tickets,
)

ALL = frozenset(ROLE_USERS)
APPLICANTS = frozenset({"researcher", "ai_vendor"})
AUDITORS = frozenset({"platform_admin", "drb_member", "data_steward"})
SITE_PUBLISHERS = frozenset({"platform_admin", "data_steward"})  # admins, and a site's own steward for that site
WATCHERS = frozenset({"platform_admin", "drb_member", "data_steward", "deployment_approver"})
PUBLIC = None  # reachable without logging in
# (method, route path) -> roles allowed. Every route of the app must be listed: a new route fails this test.
MATRIX: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/lang/{code}"): PUBLIC,
    ("POST", "/logout"): ALL,
    ("GET", "/catalog"): ALL,
    ("GET", "/datasets/{dataset_id}"): ALL,
    ("GET", "/concepts/{concept_id}"): ALL,
    ("GET", "/compare"): ALL,
    ("GET", "/applications/new"): APPLICANTS,
    ("POST", "/applications"): APPLICANTS,
    ("GET", "/applications"): APPLICANTS,
    ("GET", "/applications/{application_id}"): frozenset(
        {"platform_admin", "researcher", "drb_member", "data_steward"}
    ),
    ("POST", "/apply"): APPLICANTS,
    ("GET", "/applications/{application_id}/documents/{document_id}"): frozenset(
        {"platform_admin", "researcher", "drb_member", "data_steward"}
    ),
    ("GET", "/review"): frozenset({"drb_member"}),
    ("POST", "/applications/{application_id}/reviews"): frozenset({"drb_member"}),
    ("GET", "/grants"): ALL,
    ("POST", "/grants/{grant_id}/revoke"): frozenset({"platform_admin", "drb_member"}),
    ("GET", "/audit"): AUDITORS,
    ("GET", "/api/v1/datasets"): ALL,
    ("GET", "/api/v1/datasets/{dataset_id}"): ALL,
    ("GET", "/api/v1/datasets/{dataset_id}/dcat"): ALL,
    ("GET", "/api/v1/search"): ALL,
    ("POST", "/api/v1/applications"): APPLICANTS,
    ("GET", "/api/v1/applications"): APPLICANTS,
    ("GET", "/api/v1/applications/{application_id}"): frozenset(
        {"platform_admin", "researcher", "drb_member", "data_steward"}
    ),
    ("GET", "/api/v1/reviews/queue"): frozenset({"drb_member"}),
    ("POST", "/api/v1/applications/{application_id}/reviews"): frozenset({"drb_member"}),
    ("GET", "/api/v1/grants"): ALL,
    ("POST", "/api/v1/grants/{grant_id}/revoke"): frozenset({"platform_admin", "drb_member"}),
    ("POST", "/api/v1/grants/check"): frozenset({"platform_admin", "data_steward"}),
    ("GET", "/api/v1/audit/verify"): AUDITORS,
    ("GET", "/api/v1/audit/checkpoint"): ALL,  # sites and auditors keep it; it holds a count and a hash
    ("POST", "/api/v1/jobs/tickets"): ALL,  # any user may ask; only the caller's own grants yield tickets
    ("POST", "/api/v1/monitoring"): SITE_PUBLISHERS,
    ("POST", "/api/v1/deployments/check"): SITE_PUBLISHERS,
    ("GET", "/api/v1/models/{model_sha256}/monitoring"): WATCHERS,
    ("GET", "/api/v1/models/{model_sha256}/inferences"): WATCHERS,  # site-1's roles only: every seeded one is
    ("GET", "/api/v1/alerts"): WATCHERS,
    ("GET", "/monitoring"): WATCHERS,
    ("GET", "/monitoring/{model_sha256}/{site_id}"): WATCHERS,
    ("GET", "/monitoring/{model_sha256}/{site_id}/inferences"): WATCHERS,
    # cohort builder and feasibility (issue 15): applicants only; a cohort of another user reads as absent
    ("GET", "/cohorts"): APPLICANTS,
    ("GET", "/cohorts/new"): APPLICANTS,
    ("GET", "/cohorts/{cohort_id}"): APPLICANTS,
    ("POST", "/cohorts/import"): APPLICANTS,
    ("POST", "/cohorts/builder"): APPLICANTS,
}
ROUTERS = (
    api.router,
    auth.router,
    catalog.router,
    governance.router,
    drb_pages.router,
    pages.router,
    monitoring_api.router,
    monitoring_pages.router,
    tickets.router,
    feasibility.router,
)


def test_every_route_is_in_the_matrix(hub_url: str, hub: sessionmaker[Session]) -> None:
    make_app(hub_url)
    # FastAPI 0.13x wraps included routers lazily: read the routes from the routers the app includes.
    routes = {
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
        if method != "HEAD"
    }
    assert routes == set(MATRIX)


def _request(client, method: str, path: str, ids: dict[str, object], csrf: str | None, role: str):  # type: ignore[no-untyped-def]
    today = dt.date.today()
    url = path.format(**ids)
    if url.startswith("/api/"):
        bodies: dict[str, object] = {
            "/api/v1/applications": {
                "title": "api study",
                "purpose": "API study for the matrix test",
                "irb_number": "IRB-API-1",
                "dataset_ids": ["site-1-cdm"],
                "analysis_types": ["feasibility"],
                "period_start": str(today),
                "period_end": str(today + dt.timedelta(days=30)),
                "dua_accepted": True,
                "submission_key": f"api-matrix-{role}",
            },
            f"/api/v1/applications/{ids['application_id']}/reviews": {"decision": "approve"},
            f"/api/v1/grants/{ids['grant_id']}/revoke": {"reason": "matrix test"},
            "/api/v1/grants/check": {
                "username": "researcher",
                "dataset_id": "site-1-cdm",
                "analysis_type": "feasibility",
            },
            "/api/v1/monitoring": publication(weeks=2, shift_from=1, per_week=3).model_dump(mode="json"),
            "/api/v1/deployments/check": {"model_sha256": MODEL_SHA, "site_id": "site-1"},
        }
        params = {"q": "당뇨"} if url == "/api/v1/search" else None
        if url.endswith("/inferences"):
            params = {"site": "site-1"}
        return client.request(method, url, json=bodies.get(url), params=params)
    forms: dict[str, dict[str, object]] = {
        "/applications": {
            "title": "form study",
            "purpose": "A study from the portal form.",
            "irb_number": "IRB-FORM-1",
            "dataset_ids": ["site-1-cdm"],
            "analysis_types": ["feasibility"],
            "period_start": str(today),
            "period_end": str(today + dt.timedelta(days=30)),
            "submission_key": f"form-matrix-{role}",
            "dua_accepted": "true",
        },
        f"/applications/{ids['application_id']}/reviews": {"decision": "approve"},
        f"/grants/{ids['grant_id']}/revoke": {"reason": "matrix test"},
        "/login": {"username": "nobody", "password": "x", "csrf_token": "x"},
    }
    data = forms.get(url, {})
    if method == "POST" and csrf:
        data = {**data, "csrf_token": csrf}
    return client.request(method, url, data=data or None)


def _monitored_model(factory: sessionmaker[Session]) -> None:
    """A model approved at site-1 whose monitoring site-1 has published, so monitoring pages have content."""
    report = register(factory, approve=True)
    with factory() as s, s.begin():
        ingest_publication(s, get_user(s, "steward1"), publication(report_id=report))


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_authorization_matrix(role: str, hub_url: str, hub: sessionmaker[Session]) -> None:
    # Prepare
    app = make_app(hub_url)
    pending, _approved, grant = application_and_grant(hub)
    _monitored_model(hub)
    ids = {
        "dataset_id": "site-1-cdm",
        "concept_id": 2000100005,
        "application_id": pending,
        "document_id": 1,
        "grant_id": grant,
        "code": "en",
        "model_sha256": MODEL_SHA,
        "site_id": "site-1",
        "cohort_id": 1,
    }
    tokens = api_tokens(hub)
    portal, csrf = login(app, ROLE_USERS[role])
    portal.headers["authorization"] = f"Bearer {tokens[role]}"
    # Execute / Assert: logout last, it ends the session
    for (method, path), allowed in sorted(MATRIX.items(), key=lambda item: item[0][1] == "/logout"):
        if allowed is PUBLIC:
            continue
        response = _request(portal, method, path, ids, csrf, role)
        if role in allowed:
            assert response.status_code not in (401, 403), (role, method, path, response.status_code, response.text)
            assert response.status_code < 500
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)
    with hub() as s:
        denied = s.execute(select(AuditEntry).where(AuditEntry.action == "access.denied")).scalars().all()
    expected_denials = sum(1 for allowed in MATRIX.values() if allowed is not PUBLIC and role not in allowed)
    assert len(denied) == expected_denials  # every refused attempt is on record


def test_anonymous_requests_refused(hub_url: str, hub: sessionmaker[Session]) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(make_app(hub_url), base_url="https://testserver", follow_redirects=False)
    for (method, path), allowed in MATRIX.items():
        if allowed is PUBLIC:
            continue
        url = path.format(
            dataset_id="site-1-cdm",
            concept_id=2000100005,
            application_id=1,
            document_id=1,
            grant_id="g",
            code="en",
            model_sha256=MODEL_SHA,
            site_id="site-1",
            cohort_id=1,
        )
        response = client.request(method, url)
        expected = 401 if url.startswith("/api/") else 303
        assert response.status_code == expected, (method, path, response.status_code)
