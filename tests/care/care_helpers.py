"""Helpers of the CDS Hooks tests: constants, FHIR resource builders and request bodies."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy.orm import Session, sessionmaker

BASE_URL = "https://cds.test.example"
ISSUER = "https://ehr.test.example"
PATIENT_ID = "p1"
AS_OF = "2024-03-01"


@dataclass(frozen=True)
class EhrKeys:
    """The test EHR's keys: an EC P-384 key (kid ec1) and an RSA key (kid rsa1), public halves in a JWKS file."""

    ec_pem: bytes
    rsa_pem: bytes
    jwks_file: Path

    def token(self, aud: str, *, alg: str = "ES384", kid: str | None = None, **claims: Any) -> str:
        """A signed client JWT; `claims` override the defaults (None removes one)."""
        now = int(time.time())
        body: dict[str, Any] = {"iss": ISSUER, "sub": "ehr", "aud": aud, "iat": now, "exp": now + 300}
        body["jti"] = str(uuid.uuid4())
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        key = self.ec_pem if alg.startswith("ES") else self.rsa_pem
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid or ("ec1" if alg.startswith("ES") else "rsa1")})


def observation(oid: str, loinc: str, value: float, unit: str, day: str = AS_OF) -> dict[str, Any]:
    """A final laboratory Observation of the test patient."""
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": day,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    """A searchset Bundle."""
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def hook_body(prefetch: dict[str, Any], *, hook: str = "patient-view", **extension: Any) -> dict[str, Any]:
    """A CDS Hooks request for the test patient at AS_OF."""
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": PATIENT_ID},
        "prefetch": prefetch,
        "extension": {"dari-as-of": AS_OF, **extension},
    }


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


RESULTS = {"sites_covered": ["site-1", "site-2"], "pooled": {"n": 900, "events": 120, "auroc": 0.79}}


def approved_report(factory: sessionmaker[Session], sha: str, *, approve: bool = True) -> str:
    """Register the model, submit a validation report covering site-1 and site-2, approve it at site-1."""
    from dari.hub.governance.deployment import approve_deployment, register_model, submit_report
    from dari.hub.governance.users import get_user

    with factory() as s, s.begin():
        register_model(s, get_user(s, "vendor"), sha, {"name": "ckd_progression_1y", "version": "1.0.0"})
        report = submit_report(s, get_user(s, "vendor"), sha, RESULTS).id
        if approve:
            approve_deployment(s, get_user(s, "approver1"), report)
    return report
