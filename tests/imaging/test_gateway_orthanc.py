"""The imaging gateway end to end on a real Orthanc (loopback) behind the real deployment gate (a migrated hub):
new images scored, SR + overlay back in the PACS (passing dciodvfy, referencing the source), FHIR and worklist
written, everything audited; bad input refused with its reason and nothing half-written; the PACS's own copy of
each study never modified; a withdrawn approval stops scoring."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imgmodel_images import radiograph
from pacs_orthanc import running_orthanc
from pydicom import Dataset, dcmread
from sqlalchemy.orm import Session, sessionmaker

from dari.care.deployment_gate import DeploymentGate, HubStoreSource
from dari.imaging.dicomweb import PacsClient
from dari.imaging.gateway import ImagingGateway
from dari.imaging.model import ImagingModel
from dari.imaging.pacs import OrthancServer
from dari.imaging.sr import dataset_bytes, dciodvfy_path, validate_dicom

SR_CLASS, SC_CLASS = "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.7"
RESULTS = {"sites_covered": ["site-1", "site-2"], "pooled": {"n": 900, "events": 120, "auroc": 0.79}}


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    with running_orthanc(tmp_path_factory.mktemp("pacs")) as server:
        yield server


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """A migrated SQLite hub with the demo consortium; the reference imaging model approved at site-1."""
    from argon2 import PasswordHasher, profiles

    import dari.hub.governance.users as users_module
    from dari.hub.db.engine import make_engine, migrate, session_factory
    from dari.hub.governance.deployment import approve_deployment, register_model, submit_report
    from dari.hub.governance.users import get_user
    from dari.hub.seed import seed_consortium

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users_module, "_HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
        path = str(tmp_path_factory.mktemp("hub") / "hub.db")
        engine = make_engine(path)
        migrate(engine)
        factory = session_factory(engine)
        sha = ImagingModel.reference().sha256
        with factory() as s, s.begin():
            seed_consortium(s, "correct-horse-battery")
            register_model(s, get_user(s, "vendor"), sha, {"name": "dari-cxr-nodule", "version": "0.1.0"})
            report = submit_report(s, get_user(s, "vendor"), sha, RESULTS).id
            approve_deployment(s, get_user(s, "approver1"), report)
        yield path, factory
        engine.dispose()


def _orthanc_id(server: OrthancServer, sop_uid: str) -> str:
    hits: list[dict[str, Any]] = server.rest("POST", "/tools/lookup", content=sop_uid)
    return next(h["ID"] for h in hits if h["Type"] == "Instance")


def _file_hash(server: OrthancServer, sop_uid: str) -> str:
    return hashlib.sha256(server.rest("GET", f"/instances/{_orthanc_id(server, sop_uid)}/file")).hexdigest()


def _derived(client: PacsClient, study_uid: str) -> set[str]:
    return {ref.sop_class_uid for ref in client.search_instances(study_uid)} & {SR_CLASS, SC_CLASS}


def test_gateway_end_to_end(orthanc: OrthancServer, hub: tuple[str, sessionmaker[Session]], tmp_path: Path) -> None:
    # Prepare: a lesion and a normal radiograph, a multi-frame one, one without pixel spacing, a CT slice
    model = ImagingModel.reference()
    lesion, _ = radiograph("site-1", lesion=True, seed=5)
    normal, _ = radiograph("site-1", lesion=False, seed=5)
    multi, _ = radiograph("site-1", lesion=False, start=40, seed=5)
    multi.NumberOfFrames = 2
    no_spacing, _ = radiograph("site-1", lesion=False, start=80, seed=5)
    del no_spacing.ImagerPixelSpacing, no_spacing.PixelSpacing
    ct = next(d for d in _studies() if d.Modality == "CT")
    sources = {"lesion": lesion, "normal": normal, "multi": multi, "no_spacing": no_spacing, "ct": ct}
    client = PacsClient.for_server(orthanc)
    client.store(list(sources.values()))
    before = {k: _file_hash(orthanc, str(d.SOPInstanceUID)) for k, d in sources.items()}
    gate = DeploymentGate(HubStoreSource(hub[0]), model.sha256, "site-1", cache_s=0.5)
    gateway = ImagingGateway(
        orthanc, [model], {model.sha256: gate}, tmp_path / "out", site_id="site-1", from_start=True
    )
    try:
        # Execute: one pass over the change feed, then another (which sees only dari's own outputs)
        results = gateway.poll_once()
        again = gateway.poll_once()
        rows = gateway.audit.rows()
        facts = gateway.facts.rows()
    finally:
        gateway.close()
        gate.source.close()  # type: ignore[attr-defined]
    # Assert: each image handled as it must be, every one audited once, dari's own outputs skipped unaudited
    by_sop = {str(d.SOPInstanceUID): k for k, d in sources.items()}
    status = {by_sop[_sop(orthanc, r.orthanc_id)]: r for r in results}
    assert {k: r.status for k, r in status.items()} == {
        "lesion": "scored", "normal": "scored", "multi": "refused", "no_spacing": "refused", "ct": "no_model",
    }  # fmt: skip
    assert "multi_frame" in status["multi"].reason and "missing_pixel_spacing" in status["no_spacing"].reason
    assert {r.status for r in again} <= {"skipped"} and len(again) == 4  # 2 SR + 2 overlays
    assert sorted(r.status for r in rows) == [200, 200, 404, 422, 422]
    assert all(len(r.inputs_hmac or "") in (0, 64) and "50123456" not in r.reason for r in rows)
    assert len(facts) == 2 and {f.manufacturer for f in facts} <= {s.manufacturer for s in _site1()}
    assert status["lesion"].score is not None and status["normal"].score is not None
    assert status["lesion"].score > status["normal"].score
    # Assert: SR and overlay in the scored studies only, the SR valid and referencing its source
    for key in ("lesion", "normal"):
        study = str(sources[key].StudyInstanceUID)
        assert _derived(client, study) == {SR_CLASS, SC_CLASS}
        sr = next(client.retrieve(r) for r in client.search_instances(study) if r.sop_class_uid == SR_CLASS)
        sr = dcmread(io.BytesIO(dataset_bytes(sr)))
        assert str(sources[key].SOPInstanceUID) in json.dumps(sr.to_json_dict())
        if dciodvfy_path() is not None:
            assert validate_dicom(dataset_bytes(sr)).ok
    for key in ("multi", "no_spacing", "ct"):
        assert _derived(client, str(sources[key].StudyInstanceUID)) == set(), key  # nothing half-written
    # Assert: the PACS's own copies are byte for byte what was stored
    assert {k: _file_hash(orthanc, str(d.SOPInstanceUID)) for k, d in sources.items()} == before
    # Assert: FHIR Bundles and the worklist, prioritised by the declared threshold
    out = tmp_path / "out"
    assert len(list((out / "fhir").glob("*.json"))) == 2
    worklist = json.loads((out / "worklist.json").read_text(encoding="utf-8"))["studies"]
    assert {w["study_uid"] for w in worklist} == {str(lesion.StudyInstanceUID), str(normal.StudyInstanceUID)}
    for w in worklist:
        assert w["priority"] == ("high" if w["score"] >= model.spec.threshold else "routine")
    assert worklist[0]["score"] >= worklist[1]["score"] or worklist[0]["priority"] == "high"


def test_gateway_withdrawn_approval_stops_scoring(
    orthanc: OrthancServer, hub: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    from dari.hub.governance.deployment import withdraw_deployment
    from dari.hub.governance.users import get_user

    # Prepare: the gateway started from the feed's current end; the approval withdrawn; a new image arrives
    model = ImagingModel.reference()
    path, factory = hub
    gate = DeploymentGate(HubStoreSource(path), model.sha256, "site-1", cache_s=0.2)
    gateway = ImagingGateway(orthanc, [model], {model.sha256: gate}, tmp_path / "out", site_id="site-1")
    with factory() as s, s.begin():
        report = _report_id(s, model.sha256)
        withdraw_deployment(s, get_user(s, "approver1"), report, "site-1", "image drift")
    time.sleep(0.3)
    image, _ = radiograph("site-1", lesion=True, start=120, seed=5)
    PacsClient.for_server(orthanc).store([image])
    try:
        # Execute
        results = gateway.poll_once()
        rows = gateway.audit.rows()
    finally:
        gateway.close()
        gate.source.close()  # type: ignore[attr-defined]
    # Assert: refused as not approved, audited 503, nothing written
    assert [r.status for r in results] == ["not_approved"]
    assert [r.status for r in rows] == [503] and "withdrawn" in rows[0].reason
    assert _derived(PacsClient.for_server(orthanc), str(image.StudyInstanceUID)) == set()
    assert not (tmp_path / "out" / "fhir").exists()


def _report_id(session: Session, sha: str) -> str:
    from sqlalchemy import select

    from dari.hub.db.models import ValidationReport

    return str(session.execute(select(ValidationReport.id).where(ValidationReport.model_sha256 == sha)).scalar_one())


def _site1() -> tuple[Any, ...]:
    from dari.imaging.site_profiles import imaging_site

    return imaging_site("site-1").scanners


def _studies() -> Iterator[Dataset]:
    from imgmodel_images import PATIENT

    from dari.imaging.site_profiles import imaging_site
    from dari.imaging.synth import make_study

    for i in range(200):
        yield make_study(imaging_site("site-1"), PATIENT, i, 5)[0]


def _sop(server: OrthancServer, orthanc_id: str) -> str:
    tags: dict[str, Any] = server.rest("GET", f"/instances/{orthanc_id}/simplified-tags")
    return str(tags["SOPInstanceUID"])


def test_gateway_rollback_removes_a_half_answer(orthanc: OrthancServer, tmp_path: Path) -> None:
    # Prepare: as if STOW-RS had stored the SR but refused the overlay: the SR alone in the PACS
    from dari.imaging.sr import measurement_report

    model = ImagingModel.reference()
    image, _ = radiograph("site-1", lesion=False, start=160, seed=5)
    sr = measurement_report(image, model.score(image), model)
    client = PacsClient.for_server(orthanc)
    client.store([sr])
    gateway = ImagingGateway(orthanc, [model], {}, tmp_path / "out", site_id="site-1")
    try:
        # Execute
        gateway._rollback({str(sr.SOPInstanceUID)})
    finally:
        gateway.close()
    # Assert: nothing of the answer is left in the PACS
    assert orthanc.rest("POST", "/tools/lookup", content=str(sr.SOPInstanceUID)) == []
