"""The deployment gate while serving: scores while the hub approves, 503 (audited) past the cache once withdrawn,
the last yes held through a hub outage's grace only, and the hub API asked as the hub defines it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from care_helpers import BASE_URL, PATIENT_ID, EhrKeys, FakeClock, approved_report, hook_body
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from dari.care import CdsSettings, ServedModel, create_app
from dari.care.cds_service import EVALUATE_SERVICE_ID
from dari.care.deployment_gate import (
    DeploymentGate,
    DeploymentManifest,
    GateAnswer,
    GateUnavailableError,
    HubApiSource,
    HubStoreSource,
)
from dari.errors import InputError
from dari.hub.governance.deployment import withdraw_deployment
from dari.hub.governance.users import get_user

SERVICE = "dari-ckd-progression-patient-view"


def _post(client: TestClient, keys: EhrKeys, body: dict[str, Any]) -> httpx.Response:
    token = keys.token(f"{BASE_URL}/cds-services/{SERVICE}")
    return client.post(f"/cds-services/{SERVICE}", json=body, headers={"Authorization": f"Bearer {token}"})


def test_care_gate_scores_while_approved_and_refuses_after_withdrawal(
    hub_store: tuple[str, sessionmaker[Session]],
    settings: CdsSettings,
    reference_model: ServedModel,
    ehr_keys: EhrKeys,
    prefetch: Callable[..., dict[str, Any]],
) -> None:
    # Prepare: the reference model approved at site-1 on the hub; the service gated on that store
    path, factory = hub_store
    sha = reference_model.card.model_sha256
    report = approved_report(factory, sha)
    clock = FakeClock()
    gate = DeploymentGate(HubStoreSource(path), sha, "site-1", cache_s=1.0, grace_s=30.0, clock=clock)
    app = create_app(settings, reference_model, gate=gate)
    with TestClient(app, base_url=BASE_URL) as client:
        # Execute: score, withdraw, score within the cache, then past it (hook and RiskAssessment)
        approved = _post(client, ehr_keys, hook_body(prefetch()))
        with factory() as s, s.begin():
            withdraw_deployment(s, get_user(s, "approver1"), report, "site-1", "calibration drift")
        clock.now += 0.5
        cached = _post(client, ehr_keys, hook_body(prefetch()))
        clock.now += 0.6
        refused = _post(client, ehr_keys, hook_body(prefetch()))
        fhir_token = ehr_keys.token(f"{BASE_URL}/fhir")
        fhir = client.post(
            "/fhir/RiskAssessment/$evaluate",
            json={"patientId": PATIENT_ID, "prefetch": prefetch(), "asOf": "2024-03-01"},
            headers={"Authorization": f"Bearer {fhir_token}"},
        )
        rows = app.state.inference_log.rows()
    # Assert: a yes is kept for the cache only; then 503 naming the reason, audited, no card
    assert approved.status_code == 200 and len(approved.json()["cards"]) == 1
    assert cached.status_code == 200
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "deployment_not_approved"
    assert "site-1" in refused.json()["message"] and "approval withdrawn" in refused.json()["message"]
    assert fhir.status_code == 503 and fhir.json()["resourceType"] == "OperationOutcome"
    assert [r.status for r in rows] == [200, 200, 503, 503]
    assert rows[2].card_uuid is None and rows[2].probability is None and "withdrawn" in rows[2].reason
    assert rows[3].service_id == EVALUATE_SERVICE_ID and "withdrawn" in rows[3].reason  # $evaluate is audited too
    app.state.feedback_store.close()
    gate.source.close()  # type: ignore[attr-defined]


class ScriptedSource:
    """A hub whose answers the test scripts: an answer, or None for 'cannot be reached'."""

    def __init__(self) -> None:
        self.answer: GateAnswer | None = GateAnswer(True, "approved report", "report-1", "approver1")
        self.asked = 0

    def ask(self, model_sha256: str, site_id: str) -> GateAnswer:
        self.asked += 1
        if self.answer is None:
            raise GateUnavailableError("connection refused")
        return self.answer


def test_care_gate_holds_last_yes_through_grace_only() -> None:
    # Prepare
    source, clock = ScriptedSource(), FakeClock()
    gate = DeploymentGate(source, "a" * 64, "site-1", cache_s=1.0, grace_s=5.0, clock=clock)
    assert gate.check().allowed
    source.answer = None  # the hub goes away
    # Execute: ask again inside the grace, then past it
    clock.now += 3.0
    in_grace = gate.check()
    clock.now += 3.5  # 6.5 s after the last yes: past cache (1 s) + grace (5 s)
    after = gate.check()
    # Assert
    assert in_grace.allowed and not in_grace.answered and "has not answered" in in_grace.reason
    assert not after.allowed and "could not confirm" in after.reason and "connection refused" in after.reason


def test_care_gate_refuses_without_ever_a_yes_and_caches_a_no() -> None:
    source, clock = ScriptedSource(), FakeClock()
    source.answer = None
    gate = DeploymentGate(source, "a" * 64, "site-1", cache_s=1.0, grace_s=60.0, clock=clock)
    first = gate.check()
    second = gate.check()  # within the cache: the hub is not asked again
    assert not first.allowed and second is first and source.asked == 1
    source.answer = GateAnswer(True, "approved report")
    clock.now += 1.0
    assert gate.check().allowed and source.asked == 2  # a re-approval counts past the cache


def test_care_gate_background_refresh_keeps_answer_fresh() -> None:
    # Prepare: a real clock, a short cache; the thread re-asks every cache / 2
    source = ScriptedSource()
    gate = DeploymentGate(source, "a" * 64, "site-1", cache_s=0.05, grace_s=0.0)
    gate.check()
    # Execute
    gate.start()
    try:
        import time

        time.sleep(0.3)
    finally:
        gate.stop()
    # Assert: the thread asked on its own
    assert source.asked >= 3


def test_care_gate_hub_api_asked_with_token() -> None:
    # Prepare: a hub API double that checks what the gate sends
    seen: list[httpx.Request] = []

    def hub(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"allowed": False, "reason": "approval withdrawn", "report_id": None, "approver": None}
        return httpx.Response(200, json=body)

    source = HubApiSource("https://hub.test", "tok-1", client=httpx.Client(transport=httpx.MockTransport(hub)))
    # Execute
    answer = source.ask("b" * 64, "site-2")
    # Assert
    assert answer == GateAnswer(False, "approval withdrawn", None, None)
    (request,) = seen
    assert str(request.url) == "https://hub.test/api/v1/deployments/check"
    assert request.headers["authorization"] == "Bearer tok-1"
    assert json.loads(request.content) == {"model_sha256": "b" * 64, "site_id": "site-2"}


@pytest.mark.parametrize(("status", "body"), [(401, {"detail": "bad token"}), (500, {}), (200, {"unexpected": True})])
def test_care_gate_hub_api_failure_is_unavailable(status: int, body: dict[str, Any]) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(status, json=body)))
    source = HubApiSource("https://hub.test", "tok-1", client=client)
    with pytest.raises(GateUnavailableError):
        source.ask("b" * 64, "site-2")


def test_care_gate_hub_api_refuses_plain_http_off_loopback() -> None:
    with pytest.raises(InputError, match="https"):
        HubApiSource("http://hub.example.org", "tok")
    HubApiSource("http://127.0.0.1:8000", "tok").close()  # loopback (development) is allowed


def test_care_gate_manifest_errors_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "deployment.json").write_text(json.dumps({"model_sha256": "XYZ", "site": "site-1"}))
    with pytest.raises(InputError, match="model_sha256"):
        DeploymentManifest.load(tmp_path)
    with pytest.raises(InputError, match="dari deploy"):
        DeploymentManifest.load(tmp_path / "missing")


def test_care_gate_asks_the_real_hub_api(
    hub_store: tuple[str, sessionmaker[Session]], reference_model: ServedModel
) -> None:
    # Prepare: the hub app on the store; the site's steward token (and another site's, which may not ask)
    from dari.hub.governance.users import issue_api_token
    from dari.hub.settings import HubSettings
    from dari.hub.web.app import create_app as create_hub_app

    path, factory = hub_store
    sha = reference_model.card.model_sha256
    report = approved_report(factory, sha)
    with factory() as s, s.begin():
        token = issue_api_token(s, get_user(s, "steward1"))
        other = issue_api_token(s, get_user(s, "steward2"))
    hub = TestClient(create_hub_app(HubSettings(database=path)), base_url="https://hub.test")  # type: ignore[arg-type]
    clock = FakeClock()
    gate = DeploymentGate(HubApiSource("https://hub.test", token, client=hub), sha, "site-1", clock=clock)
    # Execute: approved, then withdrawn past the cache; and a token of another site
    approved = gate.check()
    with factory() as s, s.begin():
        withdraw_deployment(s, get_user(s, "approver1"), report, "site-1", "calibration drift")
    clock.now += 1.0
    withdrawn = gate.check()
    # Assert
    assert approved.allowed and approved.report_id == report and approved.approver == "approver1"
    assert not withdrawn.allowed and withdrawn.answered and withdrawn.reason == "approval withdrawn"
    with pytest.raises(GateUnavailableError, match="HTTP 403"):
        HubApiSource("https://hub.test", other, client=hub).ask(sha, "site-1")
