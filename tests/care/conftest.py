"""Fixtures for the CDS Hooks service tests: EHR signing keys and their JWKS, the app, a synthetic patient."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from care_helpers import BASE_URL, ISSUER, PATIENT_ID, EhrKeys, observation, searchset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from dari.care import CdsSettings, IssuerConfig, ServedModel, create_app


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="session")
def ehr_keys(tmp_path_factory: pytest.TempPathFactory) -> EhrKeys:
    """Fresh keys per test session, with a JWKS file holding the public keys only."""
    folder = tmp_path_factory.mktemp("ehr-keys")
    ec_key = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    keys = [ec_jwk | {"kid": "ec1", "alg": "ES384", "use": "sig"}, rsa_jwk | {"kid": "rsa1", "use": "sig"}]
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": keys}), encoding="utf-8")
    return EhrKeys(_pem(ec_key), _pem(rsa_key), jwks)


@pytest.fixture(scope="session")
def reference_model() -> ServedModel:
    """The shipped reference model, loaded once."""
    return ServedModel.load("reference")


@pytest.fixture
def settings(tmp_path: Path, ehr_keys: EhrKeys) -> CdsSettings:
    """Service settings for tests: replay dates allowed, both links configured."""
    return CdsSettings(
        base_url=BASE_URL,
        database=tmp_path / "cds.db",
        issuers=(IssuerConfig(iss=ISSUER, jwks_file=ehr_keys.jwks_file),),
        validation_report_url="https://hub.test.example/validation/ckd_progression_1y/1.0.0",
        allow_as_of=True,
    )


@pytest.fixture
def client(settings: CdsSettings, reference_model: ServedModel) -> Iterator[TestClient]:
    """The service behind Starlette's test client."""
    app = create_app(settings, reference_model)
    with TestClient(app, base_url=BASE_URL) as c:
        yield c
    app.state.feedback_store.close()


@pytest.fixture
def prefetch() -> Callable[..., dict[str, Any]]:
    """Build the test patient's prefetch: a 71-year-old man, eGFR 41, HbA1c 8.1, SBP 150, type 2 diabetes (KCD)."""

    def build(*, egfr: dict[str, Any] | None = None, drop: tuple[str, ...] = ()) -> dict[str, Any]:
        obs = [
            egfr or observation("o-egfr", "98979-8", 41.0, "mL/min/{1.73_m2}"),
            observation("o-a1c", "4548-4", 8.1, "%", "2024-01-10"),
            observation("o-sbp", "8480-6", 150.0, "mm[Hg]", "2024-02-01"),
        ]
        cond = {
            "resourceType": "Condition",
            "id": "c-dm",
            "code": {"coding": [{"system": "http://www.hl7korea.or.kr/CodeSystem/kcd-8", "code": "E11.9"}]},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "onsetDateTime": "2019-05-02",
        }
        data: dict[str, Any] = {
            "patient": {"resourceType": "Patient", "id": PATIENT_ID, "gender": "male", "birthDate": "1953"},
            "observations": searchset(*[o for o in obs if o["id"] not in drop]),
            "conditions": searchset(cond),
        }
        return data

    return build


@pytest.fixture(scope="session")
def care_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic site-1 CDM with birth dates cut to the year, as dari's pseudonymisation keeps them."""
    import duckdb

    from dari.cdm.store import resolve_duckdb_path
    from dari.etl.pipeline import run_etl
    from dari.synth.network import generate_site
    from dari.synth.sites import network_profiles

    folder = tmp_path_factory.mktemp("care-network") / "site-1"
    generate_site(network_profiles(1)[0], folder, 300, seed=31)
    run_etl(folder)
    con = duckdb.connect(str(resolve_duckdb_path(folder)))
    con.execute("UPDATE person SET month_of_birth = NULL, day_of_birth = NULL, birth_datetime = NULL")
    con.close()
    return folder


@pytest.fixture
def hub_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """A migrated SQLite hub with the demo consortium (passwords hashed at argon2's cheapest cost)."""
    from argon2 import PasswordHasher, profiles

    import dari.hub.governance.users as users_module
    from dari.hub.db.engine import make_engine, migrate, session_factory
    from dari.hub.seed import seed_consortium

    monkeypatch.setattr(users_module, "_HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    path = str(tmp_path / "hub.db")
    engine = make_engine(path)
    migrate(engine)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        seed_consortium(s, "correct-horse-battery")
    yield path, factory
    engine.dispose()


@pytest.fixture
def deployment_folder(tmp_path: Path, reference_model: ServedModel) -> Path:
    """The reference model as `dari deploy` lays it out for site-1."""
    import shutil

    from dari.models.reference import reference_model_paths

    paths = reference_model_paths()
    folder = tmp_path / "deployed"
    folder.mkdir()
    shutil.copyfile(paths.model, folder / "model.onnx")
    shutil.copyfile(paths.spec, folder / "features.json")
    shutil.copyfile(paths.card, folder / "model_card.json")
    manifest = {"model_sha256": reference_model.card.model_sha256, "site": "site-1", "report_id": None}
    (folder / "deployment.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder
