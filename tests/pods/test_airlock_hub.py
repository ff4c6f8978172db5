"""The hub side of research pods: submission only under a grant that covers pods, the two-person rule, and that a
rejected or altered output never reaches the researcher (REST API on the real app, services on the real store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from airlock_helpers import GOOD_MAIN, PASSWORD, build_pod_hub, bundle_zip, tokens
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.errors import InputError
from dari.hub.db.models import AuditEntry
from dari.hub.governance.errors import ConflictError, ForbiddenError
from dari.hub.governance.grants import revoke_grant
from dari.hub.governance.users import get_user
from dari.hub.keys import hub_key_paths
from dari.hub.pods import PodManifest, pull_pod, report_manifest, submit_pod
from dari.hub.pods_airlock import (
    OutputDecision,
    OutputReviewCreate,
    confirm_withheld,
    receive_release,
    release_order,
    released_file,
    review_outputs,
)
from dari.hub.settings import HubSettings
from dari.hub.web.app import create_app
from dari.pods.bundle import canonical_sha256
from dari.pods.output_check import FileReport, Finding

CLEAN = b"sex,n_persons\nF,150\nM,145\n"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, sessionmaker[Session], dict[str, str]]]:
    """A hub store with the pod grant, the feasibility grant and the output checkers."""
    path = str(tmp_path_factory.mktemp("airlock-hub") / "hub.db")
    factory, grants = build_pod_hub(Path(path))
    yield path, factory, grants


def _held(factory: sessionmaker[Session], path: str, grant: str) -> str:
    """A pod submitted, pulled by site-1 and held with one clean and one blocked file."""
    with factory() as s, s.begin():
        pod = submit_pod(
            s,
            get_user(s, "researcher"),
            grant_id=grant,
            dataset_id="site-1-cdm",
            bundle_name="b.zip",
            data=bundle_zip(GOOD_MAIN),
        )
        pull_pod(s, get_user(s, "steward1"), pod.id, hub_key_paths(path).private_key())
        blocked = Finding(file="rows.csv", rule="row_level", severity="block", message_ko="행", message_en="rows")
        import hashlib

        files = [
            FileReport(name="table.csv", size=len(CLEAN), sha256=hashlib.sha256(CLEAN).hexdigest(), kind="csv"),
            FileReport(name="rows.csv", size=9, sha256="0" * 64, kind="csv", findings=[blocked]),
        ]
        report_manifest(s, get_user(s, "steward1"), pod.id, PodManifest(status="held", run_id="r1", files=files))
        return pod.id


def _review(factory: sessionmaker[Session], who: str, pod_id: str, decision: OutputDecision) -> str:
    with factory() as s, s.begin():
        return review_outputs(
            s, get_user(s, who), pod_id, OutputReviewCreate(decision=decision, reason="checked")
        ).status


def test_airlock_submission_needs_a_pod_grant(hub: tuple[str, sessionmaker[Session], dict[str, str]]) -> None:
    # Prepare
    path, factory, grants = hub
    keys = tokens(factory, "researcher", "vendor")
    client = TestClient(create_app(HubSettings(database=path)))  # type: ignore[arg-type]
    bundle = bundle_zip(GOOD_MAIN)

    def submit(who: str, grant: str, data: bytes = bundle) -> tuple[int, dict[str, object]]:
        response = client.post(
            "/api/v1/pods",
            data={"grant_id": grant, "dataset_id": "site-1-cdm"},
            files={"bundle": ("pod.zip", data, "application/zip")},
            headers={"Authorization": f"Bearer {keys[who]}"},
        )
        return response.status_code, response.json()

    # Execute
    feasibility_only = submit("vendor", grants["feasibility"])
    someone_elses = submit("vendor", grants["pod"])
    not_a_bundle = submit("researcher", grants["pod"], b"print('no pod.toml')")
    accepted = submit("researcher", grants["pod"])
    # Assert
    assert feasibility_only[0] == 409 and "does not cover research pods" in str(feasibility_only[1]["detail"])
    assert someone_elses[0] == 403
    assert not_a_bundle[0] == 400
    assert accepted[0] == 201 and accepted[1]["status"] == "submitted"
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        expected = canonical_sha256({n: archive.read(n) for n in archive.namelist()})
    assert accepted[1]["bundle_sha256"] == expected
    with factory() as s:
        actions = s.execute(select(AuditEntry.action).where(AuditEntry.target == f"pod:{accepted[1]['id']}")).all()
    assert [a for (a,) in actions] == ["pod.submit"]


def test_airlock_two_different_checkers_of_the_site_release(
    hub: tuple[str, sessionmaker[Session], dict[str, str]],
) -> None:
    # Prepare
    path, factory, grants = hub
    pod_id = _held(factory, path, grants["pod"])
    # Execute / Assert: another site's checker, a steward and the same checker twice are refused
    with pytest.raises(ForbiddenError):
        _review(factory, "checker3", pod_id, OutputDecision.APPROVE)
    with pytest.raises(ForbiddenError):
        _review(factory, "steward1", pod_id, OutputDecision.APPROVE)
    assert _review(factory, "checker1", pod_id, OutputDecision.APPROVE) == "held"
    with pytest.raises(ConflictError, match="second checker"):
        _review(factory, "checker1", pod_id, OutputDecision.APPROVE)
    assert _review(factory, "checker2", pod_id, OutputDecision.APPROVE) == "approved"
    with factory() as s, s.begin():
        order = release_order(s, get_user(s, "steward1"), pod_id)
    # Assert: the blocked file is not in the order; an altered file is refused; the right one is released
    assert [f.name for f in order.files] == ["table.csv"] and sorted(order.approvers) == ["checker1", "checker2"]
    with pytest.raises(ConflictError, match="differs"), factory() as s, s.begin():
        receive_release(s, get_user(s, "steward1"), pod_id, {"table.csv": CLEAN.replace(b"150", b"153")})
    with pytest.raises(ConflictError, match="not the approved files"), factory() as s, s.begin():
        receive_release(s, get_user(s, "steward1"), pod_id, {"table.csv": CLEAN, "rows.csv": b"person_id"})
    with factory() as s, s.begin():
        assert receive_release(s, get_user(s, "steward1"), pod_id, {"table.csv": CLEAN}).status == "released"
    with factory() as s, s.begin():
        assert released_file(s, get_user(s, "researcher"), pod_id, "table.csv").content == CLEAN
    with pytest.raises(ForbiddenError), factory() as s, s.begin():
        released_file(s, get_user(s, "vendor"), pod_id, "table.csv")


def test_airlock_one_rejection_keeps_everything_at_the_site(
    hub: tuple[str, sessionmaker[Session], dict[str, str]],
) -> None:
    # Prepare
    path, factory, grants = hub
    pod_id = _held(factory, path, grants["pod"])
    # Execute
    _review(factory, "checker1", pod_id, OutputDecision.APPROVE)
    status = _review(factory, "checker2", pod_id, OutputDecision.REJECT)
    with factory() as s, s.begin():
        order = release_order(s, get_user(s, "steward1"), pod_id)
    # Assert
    assert status == "rejected" and order.files == []
    with pytest.raises(ConflictError), factory() as s, s.begin():
        receive_release(s, get_user(s, "steward1"), pod_id, {"table.csv": CLEAN})
    with factory() as s, s.begin():
        assert confirm_withheld(s, get_user(s, "steward1"), pod_id).status == "withheld"
    with factory() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(AuditEntry.target == f"pod:{pod_id}"))]
    assert actions == ["pod.submit", "pod.pull", "pod.hold", "pod.review", "pod.review", "pod.withhold"]


def test_airlock_revoked_grant_gets_no_ticket(tmp_path: Path) -> None:
    # Prepare: a grant revoked after the pod was submitted
    factory, grants = build_pod_hub(tmp_path / "hub.db")
    with factory() as s, s.begin():
        pod = submit_pod(
            s,
            get_user(s, "researcher"),
            grant_id=grants["pod"],
            dataset_id="site-1-cdm",
            bundle_name="b.zip",
            data=bundle_zip(GOOD_MAIN),
        )
        revoke_grant(s, get_user(s, "drb1"), grants["pod"], "consent withdrawn")
    # Execute
    with factory() as s, s.begin():
        request = pull_pod(s, get_user(s, "steward1"), pod.id, hub_key_paths(tmp_path / "hub.db").private_key())
    # Assert
    assert request.tickets == {}
    with factory() as s:
        from dari.hub.pods import get_pod

        assert get_pod(s, pod.id).status == "refused"


def test_airlock_manifest_cannot_downgrade_a_blocking_rule(
    hub: tuple[str, sessionmaker[Session], dict[str, str]],
) -> None:
    # Prepare: a pulled pod, and a manifest that calls a row-level finding merely "review"
    path, factory, grants = hub
    with factory() as s, s.begin():
        pod = submit_pod(
            s,
            get_user(s, "researcher"),
            grant_id=grants["pod"],
            dataset_id="site-1-cdm",
            bundle_name="b.zip",
            data=bundle_zip(GOOD_MAIN),
        )
        pull_pod(s, get_user(s, "steward1"), pod.id, hub_key_paths(path).private_key())
    soft = Finding(file="rows.csv", rule="row_level", severity="review", message_ko="행", message_en="rows")
    manifest = PodManifest(
        status="held",
        run_id="r2",
        files=[FileReport(name="rows.csv", size=9, sha256="0" * 64, kind="csv", findings=[soft])],
    )
    # Execute / Assert
    with pytest.raises(InputError, match="does not match the airlock's rules"), factory() as s, s.begin():
        report_manifest(s, get_user(s, "steward1"), pod.id, manifest)


def test_airlock_drb_sees_the_pod_in_words(hub: tuple[str, sessionmaker[Session], dict[str, str]]) -> None:
    # Prepare: the DRB member of site-1 logged in to the portal
    import re

    from dari.hub.db.models import Grant

    path, factory, grants = hub
    client = TestClient(create_app(HubSettings(database=path)), base_url="https://testserver")  # type: ignore[arg-type]
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"username": "drb1", "password": PASSWORD, "csrf_token": token[1]})
    with factory() as s:
        application = s.get(Grant, grants["pod"]).application_id  # type: ignore[union-attr]
    # Execute
    page = client.get(f"/applications/{application}").text
    # Assert: what a pod means, not a code
    assert "연구자 코드를 기관 안에서 실행, 두 명의 반출 검토 후 결과만 반출" in page and "research_pod" not in page
