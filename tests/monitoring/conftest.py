"""Fixtures of the monitoring tests: two synthetic sites of one profile, a deployment, its reference, and a CDS
service (in process) through which the test EHR replays one site's patients, first as they are, then shifted.

The reference is built on site A; the replayed patients come from site B (same profile, other seed), so "unshifted"
means an independent sample of the same population, not the reference rows again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from monitoring_site_helpers import BASE_URL, ISSUER, SITE_PATIENTS, STREAM, EhrKey, Replayed, fhir_id

from dari.care import CdsSettings, IssuerConfig, ServedModel, create_app
from dari.cdm.store import open_store
from dari.etl.pipeline import run_etl
from dari.models import sha256_file
from dari.models.reference import reference_model_paths
from dari.monitoring.reference import REFERENCE_FILE, build_reference, load_deployment, save_reference
from dari.monitoring.replay import replay_drift
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles


def _site(root: Path, seed: int) -> Path:
    folder = root / f"site-seed{seed}"
    generate_site(network_profiles(1)[0], folder, SITE_PATIENTS, seed=seed)
    run_etl(folder)
    return folder


@pytest.fixture(scope="session")
def reference_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Site A: where the model was validated (the monitoring reference's cohort)."""
    return _site(tmp_path_factory.mktemp("monitoring-a"), 41)


@pytest.fixture(scope="session")
def stream_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Site B: same profile, other seed: whose patients are replayed."""
    return _site(tmp_path_factory.mktemp("monitoring-b"), 42)


@pytest.fixture(scope="session")
def deployment_dir(tmp_path_factory: pytest.TempPathFactory, reference_site: Path) -> Path:
    """The reference model deployed at site-1 (as `dari deploy` lays it out) with its monitoring reference."""
    folder = tmp_path_factory.mktemp("deployment") / "ckd"
    folder.mkdir()
    paths = reference_model_paths()
    shutil.copyfile(paths.model, folder / "model.onnx")
    shutil.copyfile(paths.spec, folder / "features.json")
    shutil.copyfile(paths.card, folder / "model_card.json")
    manifest = {"model_sha256": sha256_file(paths.model), "site": "site-1", "report_id": "rep-test-1"}
    (folder / "deployment.json").write_text(json.dumps(manifest), encoding="utf-8")
    store = open_store(reference_site)
    try:
        save_reference(build_reference(load_deployment(folder), store), folder / REFERENCE_FILE)
    finally:
        store.close()
    return folder


@pytest.fixture(scope="session")
def ehr_key(tmp_path_factory: pytest.TempPathFactory) -> EhrKey:
    """A fresh EC P-384 key per session."""
    folder = tmp_path_factory.mktemp("monitoring-ehr")
    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public | {"kid": "ec1", "alg": "ES384", "use": "sig"}]}), encoding="utf-8")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return EhrKey(pem, jwks)


def _settings(database: Path, ehr_key: EhrKey) -> CdsSettings:
    return CdsSettings(
        base_url=BASE_URL,
        database=database,
        issuers=(IssuerConfig(iss=ISSUER, jwks_file=ehr_key.jwks_file),),
        allow_as_of=True,
    )


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory, stream_site: Path, ehr_key: EhrKey) -> Iterator[Replayed]:
    """Site B's patients through the service in process: unshifted, then older with worse kidney function."""
    database = tmp_path_factory.mktemp("cds") / "cds.db"
    model = ServedModel.load("reference")
    app = create_app(_settings(database, ehr_key), model)
    store = open_store(stream_site)
    try:
        with TestClient(app, base_url=BASE_URL) as client:
            result = replay_drift(
                client,
                BASE_URL,
                store,
                model.spec,
                patients=STREAM,
                key_pem=ehr_key.pem,
                iss=ISSUER,
                kid="ec1",
                patient_ids=fhir_id,
            )
    finally:
        store.close()
        app.state.feedback_store.close()
        app.state.inference_log.close()
    ids = tuple(dict.fromkeys(fhir_id(r.person_id) for r in [*result.unshifted, *result.shifted]))
    yield Replayed(database, result, ids)


@pytest.fixture(scope="session")
def patient_map(tmp_path_factory: pytest.TempPathFactory, stream_site: Path) -> Path:
    """The site's CSV of person_id → the test EHR's patient id (how outcomes are linked when ids differ)."""
    store = open_store(stream_site)
    try:
        persons = [int(r[0]) for r in store.query("SELECT person_id FROM person ORDER BY person_id")]
    finally:
        store.close()
    path = tmp_path_factory.mktemp("patient-map") / "patients.csv"
    path.write_text("person_id,fhir_patient_id\n" + "".join(f"{p},{fhir_id(p)}\n" for p in persons), encoding="utf-8")
    return path
