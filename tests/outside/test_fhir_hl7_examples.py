"""HL7's published FHIR R4 examples (tests/outside/data/hl7, sources in its README) through the CDS service.

The integration engineer's checklist: an EHR sends resources shaped like these; each test names the example,
what dari did with it before, and what it does now.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from dari.care import CdsSettings, IssuerConfig, ServedModel, create_app
from dari.care.fhir_inputs import FhirMapper
from dari.care.fhir_parse import parse_prefetch
from dari.models import assemble_inputs
from dari.models.feature_spec import FeatureSpec, parse_spec

HL7 = Path(__file__).parent / "data" / "hl7"
BASE, ISS = "https://cds.hl7-examples.test", "https://ehr.hl7-examples.test"
SERVICE = "dari-ckd-progression-patient-view"
PATIENT = "example"  # HL7's example patient: Peter James Chalmers, male, born 1974-12-25
SEOUL = ZoneInfo("Asia/Seoul")


def _hl7(name: str, subject: str | None = None) -> dict[str, Any]:
    """One published example; `subject` points it at the context patient when it is about another example one."""
    data: dict[str, Any] = json.loads((HL7 / f"{name}.json").read_text(encoding="utf-8"))
    if subject is not None:
        data["subject"] = {"reference": f"Patient/{subject}"}
    return data


def _egfr(value: float, day: str) -> dict[str, Any]:
    """An eGFR result (HL7 publishes none), in the shape of the R4 laboratory examples."""
    return {
        "resourceType": "Observation",
        "id": "egfr-1",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "98979-8"}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": day,
        "valueQuantity": {
            "value": value,
            "unit": "mL/min/1.73m2",
            "system": "http://unitsofmeasure.org",
            "code": "mL/min/{1.73_m2}",
        },
    }


def _searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _prefetch(patient: dict[str, Any], observations: list[dict[str, Any]], conditions: list[dict[str, Any]]) -> Any:
    return {"patient": patient, "observations": _searchset(*observations), "conditions": _searchset(*conditions)}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    """The reference model behind the CDS service, a JWKS with one EC key, and a signer for requests."""
    folder = tmp_path_factory.mktemp("hl7-cds")
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())) | {"kid": "k1", "alg": "ES256"}
    (folder / "jwks.json").write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    settings = CdsSettings(
        base_url=BASE,
        database=folder / "cds.db",
        issuers=(IssuerConfig(iss=ISS, jwks_file=folder / "jwks.json"),),
        validation_report_url="https://hub.hl7-examples.test/report",
        allow_as_of=True,
    )
    app = create_app(settings, ServedModel.load("reference"))

    def sign() -> str:
        now = int(time.time())
        claims = {"iss": ISS, "sub": "ehr", "aud": f"{BASE}/cds-services/{SERVICE}", "iat": now, "exp": now + 300}
        return jwt.encode(claims | {"jti": str(uuid.uuid4())}, pem, algorithm="ES256", headers={"kid": "k1"})

    with TestClient(app, base_url=BASE) as client:
        yield client, sign
    app.state.feedback_store.close()


def _hook(served: tuple[TestClient, Any], prefetch: dict[str, Any], as_of: str) -> Any:
    client, sign = served
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": PATIENT},
        "prefetch": prefetch,
        "extension": {"dari-as-of": as_of},
    }
    return client.post(f"/cds-services/{SERVICE}", json=body, headers={"Authorization": f"Bearer {sign()}"})


def test_hl7_bloodpressure_panel_systolic_is_used_not_imputed(served: tuple[TestClient, Any]) -> None:
    """observation-example-bloodpressure: LOINC 85354-9 with systolic 107 mm[Hg] as component 8480-6.

    Before: the panel's code is not 8480-6, so systolic pressure was taken as missing, 130 imputed and the card
    said "assumed for lack of a record". Now: the component is read (107), nothing is imputed for it, and the
    discovery document asks for the panel codes, since a search on `code` does not look inside components."""
    # Prepare: HL7's patient and BP panel (2012-09-17), an eGFR of 45 the same month
    patient = _hl7("patient-example")
    bp = _hl7("observation-example-bloodpressure")
    data = _prefetch(patient, [bp, _egfr(45.0, "2012-09-03")], [])
    # Execute
    response = _hook(served, data, "2012-09-20")
    discovery = served[0].get("/cds-services").json()["services"][0]["prefetch"]["observations"]
    # Assert
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    used = card["extension"]["dari-inputs"]
    assert used["sbp"] == 107.0 and used["egfr"] == 45.0 and used["male"] is True
    assert "130" not in card["detail"] and "http://loinc.org|85354-9" in discovery
    model = ServedModel.load("reference")
    expected = float(model.model.predict_proba(assemble_inputs(model.spec, used))[0])
    assert card["extension"]["dari-probability"] == pytest.approx(expected, rel=1e-9)


def test_hl7_patient_sixteen_years_old_gets_empty_card_with_reason(served: tuple[TestClient, Any]) -> None:
    """patient-example, on the day 16 years after its birthDate (1974-12-25).

    Before: age 16 lies outside the spec's valid range [18, 120], so the service answered HTTP 422, though the
    docs promise no card for patients outside the population. Now: 200, `cards: []`, the reason in the
    response's extension (`dari-reason: outside_population`), without the age itself."""
    # Prepare
    data = _prefetch(_hl7("patient-example"), [_egfr(45.0, "1990-12-20")], [])
    # Execute
    response = _hook(served, data, "1991-01-10")
    # Assert
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cards"] == [] and body["extension"]["dari-reason"] == "outside_population"
    assert (
        "minimum of 18" in body["extension"]["dari-not-applicable"]
        and "16" not in body["extension"]["dari-not-applicable"]
    )


def test_hl7_patient_without_recent_egfr_gets_empty_card_not_412(served: tuple[TestClient, Any]) -> None:
    """patient-example with the BP panel and no eGFR in the last 90 days.

    Before: every chart opening without an eGFR dated that very day answered HTTP 412, which an EHR logs as an
    error. Now: 200 with no card and what to send (`dari-missing`); 412 stays for a prefetch key that is absent."""
    # Prepare
    bp = _hl7("observation-example-bloodpressure")
    data = _prefetch(_hl7("patient-example"), [bp, _egfr(45.0, "2012-01-10")], [])
    without_key = {k: v for k, v in data.items() if k != "observations"}
    # Execute
    response = _hook(served, data, "2012-09-20")
    refused = _hook(served, without_key, "2012-09-20")
    # Assert
    assert response.status_code == 200 and response.json()["cards"] == []
    assert [m["feature"] for m in response.json()["extension"]["dari-missing"]] == ["egfr"]
    assert refused.status_code == 412 and refused.json()["missing"] == [{"prefetch": "observations"}]


def _variant_spec(model: ServedModel, extra: list[dict[str, Any]]) -> FeatureSpec:
    """The reference spec's age and sex plus `extra` inputs, no model terms: a vendor's spec for other inputs."""
    data = model.spec.model_dump(mode="json")
    data["features"] = data["features"][:2] + extra
    data["linear_model"] = None
    return parse_spec(data)


def _lab(name: str, loinc: str, unit: str, low: float, high: float) -> dict[str, Any]:
    return {
        "name": name,
        "label_ko": name,
        "label_en": name,
        "source": {"kind": "measurement", "loinc": loinc, "unit": unit, "lookback_days": 365},
        "transform": {"kind": "raw"},
        "missing": {"kind": "required"},
        "valid_range": {"low": low, "high": high},
    }


def _condition(name: str, snomed: str) -> dict[str, Any]:
    return {
        "name": name,
        "label_ko": name,
        "label_en": name,
        "source": {"kind": "condition", "snomed": [snomed]},
        "transform": {"kind": "indicator"},
        "missing": {"kind": "impute", "value": 0},
    }


def test_hl7_glucose_f001_in_mmol_and_body_weight_in_pounds_are_converted() -> None:
    """observation-example-f001-glucose (6.3 mmol/L, `effectivePeriod` with a start only) and
    observation-example-body-weight (185 [lb_av], codings in LOINC, SNOMED and an unknown acme.org system).

    Before: a spec in mg/dL or kg refused both as undeclared units, and a Period with no end was the only
    `effective[x]` read through a fallback. Now: the shipped UCUM table converts mmol/L → mg/dL by glucose's
    molar mass (6.3 × 18.0156 = 113.5) and [lb_av] → kg (185 × 0.45359237 = 83.9); the unknown system is ignored."""
    # Prepare
    spec = _variant_spec(
        ServedModel.load("reference"),
        [_lab("glucose", "15074-8", "mg/dL", 10, 1000), _lab("weight", "29463-7", "kg", 1, 400)],
    )
    glucose = _hl7("observation-example-f001-glucose", subject=PATIENT)
    weight = _hl7("observation-example-body-weight")
    weight["effectiveDateTime"] = "2013-04-01"
    data = _prefetch(_hl7("patient-example"), [glucose, weight], [])
    # Execute
    mapped = FhirMapper(spec, SEOUL).map(parse_prefetch(spec, data, PATIENT), date(2013, 4, 5))
    # Assert
    assert mapped.row is not None
    assert mapped.raw["glucose"] == pytest.approx(6.3 * 180.156 / 10, rel=1e-9)
    assert mapped.raw["weight"] == pytest.approx(185 * 0.45359237, rel=1e-9)
    assert {"Observation/f001", "Observation/body-weight"} <= set(mapped.basis)


def test_hl7_conditions_count_by_clinical_status() -> None:
    """condition-example-stroke (active, confirmed) and condition-example-f201-fever (resolved).

    Before: any Condition with a matching code counted, resolved or not (clinicalStatus was not read). Now:
    active counts, resolved does not and is noted; the same stroke entered in error does not count."""
    # Prepare
    spec = _variant_spec(
        ServedModel.load("reference"), [_condition("stroke", "422504002"), _condition("fever", "386661006")]
    )
    stroke = _hl7("condition-example-stroke")
    fever = _hl7("condition-example-f201-fever", subject=PATIENT)
    withdrawn = copy.deepcopy(stroke)
    withdrawn["verificationStatus"]["coding"][0]["code"] = "entered-in-error"
    mapper = FhirMapper(spec, SEOUL)
    day = date(2013, 5, 1)
    # Execute
    both = mapper.map(parse_prefetch(spec, _prefetch(_hl7("patient-example"), [], [stroke, fever]), PATIENT), day)
    erred = mapper.map(parse_prefetch(spec, _prefetch(_hl7("patient-example"), [], [withdrawn]), PATIENT), day)
    # Assert
    assert both.raw["stroke"] is True and both.raw["fever"] is False
    assert any("Condition/f201" in n and "resolved" in n for n in both.notes)
    assert erred.raw["stroke"] is False


@pytest.mark.parametrize("strict", [False, True])
def test_hl7_examples_parse_light_and_whole(strict: bool) -> None:
    """Every example in tests/outside/data/hl7, in one prefetch: dari's light models and (strict) fhir.resources
    R4B accept them, narrative-free but otherwise as published; unknown systems (acme.org) are not a failure."""
    # Prepare
    model = ServedModel.load("reference")
    observations = [
        _hl7(n, subject=PATIENT)
        for n in (
            "observation-example-bloodpressure",
            "observation-example-f001-glucose",
            "observation-example-body-weight",
        )
    ]
    conditions = [_hl7(n, subject=PATIENT) for n in ("condition-example-f201-fever", "condition-example-stroke")]
    data = _prefetch(_hl7("patient-example"), [*observations, _egfr(45.0, "2013-04-01")], conditions)
    # Execute
    record = parse_prefetch(model.spec, data, PATIENT, strict=strict)
    mapped = FhirMapper(model.spec, SEOUL).map(record, date(2013, 4, 5))
    # Assert: 38 years old on 2013-04-05; the panel of 2012-09-17 is within SBP's 365 days
    assert len(record.observations) == 4 and len(record.conditions) == 2
    assert (
        mapped.row is not None
        and mapped.raw["sbp"] == 107.0
        and mapped.raw["age_years"] == pytest.approx(38.28, abs=0.01)
    )
