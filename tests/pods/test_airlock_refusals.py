"""Refusals of the airlock: at the site (a ticket from a hub the site does not trust, a revoked grant: nothing runs,
both audits say so) and at the hub (every pod route × every role: who may do what)."""

from __future__ import annotations

import json
from pathlib import Path

from airlock_helpers import GOOD_MAIN, build_pod_hub, bundle_zip, serve_hub, tokens
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from dari.federation.site_audit import SiteAuditLog
from dari.federation.ticket import hub_public_pem
from dari.hub.db.models import AuditEntry
from dari.hub.governance.grants import revoke_grant
from dari.hub.governance.users import get_user
from dari.hub.pods import get_pod
from dari.hub.settings import HubSettings
from dari.hub.web.app import create_app
from dari.pods.airlock_site import pull_and_run
from dari.pods.output_check import FileReport


def _submit(base_client: TestClient, token: str, grant: str) -> str:
    response = base_client.post(
        "/api/v1/pods",
        data={"grant_id": grant, "dataset_id": "site-1-cdm"},
        files={"bundle": ("pod.zip", bundle_zip(GOOD_MAIN), "application/zip")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_airlock_site_refuses_untrusted_ticket_and_revoked_grant(tmp_path: Path) -> None:
    # Prepare: a hub served on loopback, an empty site folder (nothing may run, so no CDM is needed)
    hub_path = tmp_path / "hub.db"
    factory, grants = build_pod_hub(hub_path)
    keys = tokens(factory, "researcher", "steward1")
    client = TestClient(create_app(HubSettings(database=str(hub_path))))  # type: ignore[arg-type]
    site = tmp_path / "site-1"
    site.mkdir()
    stranger = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for base in serve_hub(str(hub_path)):
        # Execute: the site trusts another hub's key
        forged = _submit(client, keys["researcher"], grants["pod"])
        (untrusted,) = pull_and_run(
            site, site_id="site-1", hub_url=base, token=keys["steward1"], hub_public_key=stranger.decode()
        )
        # A run held here whose manifest never reached the hub (the report failed) is reported on the next pull
        lost = _submit(client, keys["researcher"], grants["pod"])
        assert client.post(
            f"/api/v1/pods/{lost}/pull", headers={"Authorization": f"Bearer {keys['steward1']}"}
        ).is_success
        held = FileReport(name="t.csv", size=3, sha256="0" * 64, kind="csv").model_dump(mode="json")
        record = {
            "pod": lost,
            "run_id": "pod-20261207T000000Z-00000000",
            "status": "held",
            "min_cell": 10,
            "files": [held],
        }
        (site / "pods" / "airlock").mkdir(parents=True)
        (site / "pods" / "airlock" / f"{lost}.json").write_text(json.dumps(record))
        (again,) = pull_and_run(
            site, site_id="site-1", hub_url=base, token=keys["steward1"], hub_public_key=hub_public_pem(hub_path)
        )
        # ... then the grant is revoked before the next pod is pulled
        revoked = _submit(client, keys["researcher"], grants["pod"])
        with factory() as s, s.begin():
            revoke_grant(s, get_user(s, "drb1"), grants["pod"], "the study's ethics approval lapsed")
        (no_grant,) = pull_and_run(
            site, site_id="site-1", hub_url=base, token=keys["steward1"], hub_public_key=hub_public_pem(hub_path)
        )
    # Assert: refused at the site, nothing ran, and both ends recorded it
    assert (untrusted.pod_id, untrusted.status) == (forged, "refused") and "signed" in untrusted.reason
    assert (no_grant.pod_id, no_grant.status) == (revoked, "refused")
    assert (again.pod_id, again.status, again.reason) == (lost, "held", "manifest sent again")
    assert not (site / "pods" / "runs").exists()
    with factory() as s:
        assert get_pod(s, forged).status == "refused" and get_pod(s, revoked).status == "refused"
        assert get_pod(s, lost).status == "held"
        actions = {
            (a, o)
            for a, o in s.execute(select(AuditEntry.action, AuditEntry.outcome).where(AuditEntry.target.like("pod:%")))
        }
    assert ("pod.refused", "deny") in actions and ("pod.pull", "deny") in actions
    events = [(e["event"], e["outcome"]) for e in SiteAuditLog(site).entries()]
    assert ("job.refuse", "deny") in events and ("pod.pull", "deny") in events


# Every pod API route and who may use it (others: 403). Site routes: only the pod's own site's steward token.
SITE = frozenset({"steward1"})
MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/pods"): frozenset({"researcher"}),  # the grant's holder (the vendor's role may apply, not here)
    ("GET", "/api/v1/pods/{pod}"): frozenset({"admin", "researcher", "steward1", "checker1"}),
    ("POST", "/api/v1/pods/{pod}/pull"): SITE,
    ("GET", "/api/v1/pods/{pod}/bundle"): SITE,
    ("POST", "/api/v1/pods/{pod}/reviews"): frozenset({"checker1"}),
    ("GET", "/api/v1/pods/{pod}/release"): SITE,
    ("POST", "/api/v1/pods/{pod}/withheld"): SITE,
    ("GET", "/api/v1/pods/{pod}/files/x.csv"): frozenset({"researcher"}),
}
PEOPLE = ("admin", "researcher", "vendor", "steward1", "steward2", "drb1", "checker1", "checker3", "clinician")


def test_airlock_routes_refuse_other_roles_and_sites(tmp_path: Path) -> None:
    # Prepare
    hub_path = tmp_path / "hub.db"
    factory, grants = build_pod_hub(hub_path)
    keys = tokens(factory, *PEOPLE)
    client = TestClient(create_app(HubSettings(database=str(hub_path))))  # type: ignore[arg-type]
    bodies = {
        "/api/v1/pods/{pod}/reviews": {"json": {"decision": "approve", "reason": "fine"}},
        "/api/v1/pods": {
            "data": {"grant_id": grants["pod"], "dataset_id": "site-1-cdm"},
            "files": {"bundle": ("pod.zip", bundle_zip(GOOD_MAIN), "application/zip")},
        },
    }
    for who in PEOPLE:
        pod = _submit(client, keys["researcher"], grants["pod"])
        headers = {"Authorization": f"Bearer {keys[who]}"}
        # Execute / Assert
        for (method, path), allowed in MATRIX.items():
            response = client.request(method, path.format(pod=pod), headers=headers, **bodies.get(path, {}))
            if who in allowed:
                assert response.status_code not in (401, 403), (who, method, path, response.text)
                assert response.status_code < 500, (who, method, path, response.text)
            else:
                assert response.status_code == 403, (who, method, path, response.status_code, response.text)
    # A pod's ticket comes only with a pull of its stored submission, never from the generic ticket endpoint
    generic = client.post(
        "/api/v1/jobs/tickets",
        json={
            "job_id": "pod-x",
            "analysis_type": "research_pod",
            "datasets": {"site-1": "site-1-cdm"},
            "params_sha256": "0" * 64,
        },
        headers={"Authorization": f"Bearer {keys['researcher']}"},
    )
    assert generic.status_code == 422
