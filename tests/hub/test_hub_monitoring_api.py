"""Monitoring REST API: publishing with a steward's token, reading, refusals, the deployment check, who may call."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hub_monitoring_helpers import MODEL_SHA, START, publication, register, window
from portal_helpers import ROLE_USERS, api_tokens, login, make_app
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.db.models import AuditEntry
from dari.hub.governance.deployment import withdraw_deployment
from dari.hub.governance.users import get_user, issue_api_token
from dari.hub.web.routes import monitoring_api, monitoring_pages

VIEWERS = frozenset({"platform_admin", "drb_member", "data_steward", "deployment_approver"})
STEWARDS = frozenset({"platform_admin", "data_steward"})
# (method, route) -> roles allowed; every route of the monitoring routers must be here.
MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/monitoring"): STEWARDS,
    ("GET", "/api/v1/models/{model_sha256}/monitoring"): VIEWERS,
    ("GET", "/api/v1/models/{model_sha256}/inferences"): VIEWERS,  # the seeded site roles are all of site-1
    ("GET", "/api/v1/alerts"): VIEWERS,
    ("POST", "/api/v1/deployments/check"): STEWARDS,
    ("GET", "/monitoring"): VIEWERS,
    ("GET", "/monitoring/{model_sha256}/{site_id}"): VIEWERS,
    ("GET", "/monitoring/{model_sha256}/{site_id}/inferences"): VIEWERS,
}


def _client(url: str, token: str) -> TestClient:
    return TestClient(make_app(url), base_url="https://testserver", headers={"authorization": f"Bearer {token}"})


def _post(client: TestClient, body: str | dict[str, Any]) -> Any:
    if isinstance(body, str):
        return client.post("/api/v1/monitoring", content=body, headers={"content-type": "application/json"})
    return client.post("/api/v1/monitoring", json=body)


def _denials(factory: sessionmaker[Session]) -> list[AuditEntry]:
    with factory() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == "access.denied")).scalars())


def test_api_publish_then_read(hub_url: str, hub: sessionmaker[Session]) -> None:
    # Prepare
    report = register(hub, approve=True)
    tokens = api_tokens(hub)
    steward = _client(hub_url, tokens["data_steward"])
    # Execute
    created = _post(steward, publication(report_id=report).model_dump_json())
    # Assert
    assert created.status_code == 201 and created.json()["id"].startswith("mon-")
    reader = _client(hub_url, tokens["drb_member"])
    timelines = reader.get(f"/api/v1/models/{MODEL_SHA}/monitoring", params={"site": "site-1"}).json()
    assert [t["site_id"] for t in timelines] == ["site-1"] and timelines[0]["report_id"] == report
    assert len(timelines[0]["windows"]) == 6 and timelines[0]["windows"][0]["start"] == "2026-09-07T00:00:00Z"
    assert timelines[0]["policy"]["drift"]["psi"] == 0.25
    assert reader.get(f"/api/v1/models/{MODEL_SHA}/monitoring", params={"site": "site-3"}).json() == []
    found = reader.get("/api/v1/alerts", params={"model": MODEL_SHA, "since": "2026-10-12T00:00:00Z"}).json()
    assert {a["kind"] for a in found} == {"score_drift", "input_drift", "discrimination", "calibration"}
    assert {a["window_start"] for a in found} == {"2026-10-12T00:00:00Z"}
    page = reader.get(
        f"/api/v1/models/{MODEL_SHA}/inferences", params={"site": "site-1", "status": 412, "limit": 2, "offset": 1}
    ).json()
    assert page["total"] == 6 and len(page["items"]) == 2 and page["counts_by_status"] == {"200": 66, "412": 6}


def test_api_refusals(hub_url: str, hub: sessionmaker[Session]) -> None:
    register(hub)
    tokens = api_tokens(hub)
    with hub() as s, s.begin():
        other_steward = issue_api_token(s, get_user(s, "steward2"))
    steward = _client(hub_url, tokens["data_steward"])
    # The wrong site's steward: 403, on record.
    assert _post(_client(hub_url, other_steward), publication().model_dump_json()).status_code == 403
    assert "may not publish monitoring" in _denials(hub)[-1].detail["reason"]
    # An unregistered model: 404.
    assert _post(steward, publication(sha="ef" * 32).model_dump_json()).status_code == 404
    # Malformed: schema errors and content errors are both 422 and name the field.
    body = publication().model_dump(mode="json")
    missing = _post(steward, {k: v for k, v in body.items() if k != "windows"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "windows"
    assert _post(steward, {**body, "model_sha256": "not-a-hash"}).status_code == 422
    assert _post(steward, {**body, "unexpected": 1}).status_code == 422
    assert _post(steward, "{not json").status_code == 422
    backwards = window(0, shifted=False).model_copy(update={"end": START})
    reversed_window = _post(steward, publication().model_copy(update={"windows": [backwards]}).model_dump_json())
    assert reversed_window.status_code == 422 and "windows[0].end must be after its start" in reversed_window.text
    # The inference audit stays with its site.
    assert (
        _client(hub_url, other_steward)
        .get(f"/api/v1/models/{MODEL_SHA}/inferences", params={"site": "site-1"})
        .status_code
        == 403
    )
    # Ids and numbers out of range: 422, never a server error.
    reader = _client(hub_url, tokens["platform_admin"])
    assert reader.get("/api/v1/models/XYZ/monitoring").status_code == 422
    assert reader.get("/api/v1/alerts", params={"site": "a" * 65}).status_code == 422
    assert (
        reader.get(f"/api/v1/models/{MODEL_SHA}/inferences", params={"site": "site-1", "offset": 2**40}).status_code
        == 422
    )
    far = reader.get(
        f"/api/v1/models/{MODEL_SHA}/inferences", params={"site": "site-1", "since": "0001-01-01T00:00:00+05:00"}
    )
    assert far.status_code == 422
    assert reader.get("/api/v1/models/" + "ef" * 32 + "/monitoring").status_code == 404


def test_api_publication_body_limit(hub_url: str, hub: sessionmaker[Session]) -> None:
    register(hub)
    steward = _client(hub_url, api_tokens(hub)["data_steward"])
    big = publication(weeks=8, per_week=400).model_dump_json()  # ≈ 1.2 MB: over the forms' limit, under 8 MiB
    assert len(big) > 1_000_000 and _post(steward, big).status_code == 201
    too_big = steward.post("/api/v1/monitoring", content=b"x", headers={"content-length": str(9 * 1024 * 1024)})
    assert too_big.status_code == 413
    # Other routes keep the small limit.
    assert steward.post("/api/v1/deployments/check", content=b"x" * 70_000).status_code == 413


def test_deployment_check_allowed_refused_withdrawn(hub_url: str, hub: sessionmaker[Session]) -> None:
    tokens = api_tokens(hub)
    steward, admin = _client(hub_url, tokens["data_steward"]), _client(hub_url, tokens["platform_admin"])
    body = {"model_sha256": MODEL_SHA, "site_id": "site-1"}
    unknown = steward.post("/api/v1/deployments/check", json=body).json()
    assert unknown == {
        "allowed": False,
        "report_id": None,
        "approver": None,
        "reason": "no validation report of this model is approved for this site",
    }
    report = register(hub, approve=True)
    allowed = steward.post("/api/v1/deployments/check", json=body).json()
    assert allowed == {"allowed": True, "report_id": report, "approver": "approver1", "reason": "approved report"}
    assert admin.post("/api/v1/deployments/check", json={**body, "site_id": "site-2"}).json()["allowed"] is False
    with hub() as s, s.begin():
        withdraw_deployment(s, get_user(s, "approver1"), report, "site-1", "calibration drift")
    withdrawn = steward.post("/api/v1/deployments/check", json=body).json()
    assert withdrawn["allowed"] is False and withdrawn["reason"] == "approval withdrawn"
    # Only the site's own steward (or an admin) may ask; malformed questions are 422.
    assert steward.post("/api/v1/deployments/check", json={**body, "site_id": "site-2"}).status_code == 403
    assert _client(hub_url, tokens["researcher"]).post("/api/v1/deployments/check", json=body).status_code == 403
    assert steward.post("/api/v1/deployments/check", json={**body, "model_sha256": "ab"}).status_code == 422
    assert steward.post("/api/v1/deployments/check", json={**body, "extra": True}).status_code == 422
    # The check itself is not audited (the CDS service asks every second); refusals are.
    with hub() as s:
        actions = [e.action for e in s.execute(select(AuditEntry)).scalars()]
    assert actions.count("access.denied") == 2 and not any("check" in a for a in actions)


def test_monitoring_routes_authorization(hub_url: str, hub: sessionmaker[Session]) -> None:
    # Prepare: every monitoring route is in the matrix, and there is something to read.
    routes = {
        (method, route.path)
        for router in (monitoring_api.router, monitoring_pages.router)
        for route in router.routes
        for method in getattr(route, "methods", ())
        if method != "HEAD"
    }
    assert routes == set(MATRIX)
    report = register(hub, approve=True)
    app = make_app(hub_url)
    tokens = api_tokens(hub)
    body = publication(report_id=report).model_dump(mode="json")
    ids = {"model_sha256": MODEL_SHA, "site_id": "site-1"}
    jsons: dict[str, Any] = {"/api/v1/monitoring": body, "/api/v1/deployments/check": ids}
    for role in sorted(ROLE_USERS):
        client, _csrf = login(app, ROLE_USERS[role])
        client.headers["authorization"] = f"Bearer {tokens[role]}"
        # Execute / Assert
        for (method, path), allowed in MATRIX.items():
            url = path.format(**ids)
            params = {"site": "site-1"} if "inferences" in url and url.startswith("/api/") else None
            response = client.request(method, url, json=jsons.get(url), params=params)
            if role in allowed:
                assert response.status_code in (200, 201), (role, method, path, response.status_code, response.text)
            else:
                assert response.status_code == 403, (role, method, path, response.status_code)
    anonymous = TestClient(app, base_url="https://testserver", follow_redirects=False)
    for method, path in MATRIX:
        expected = 401 if path.startswith("/api/") else 303
        assert anonymous.request(method, path.format(**ids)).status_code == expected
