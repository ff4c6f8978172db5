"""The CDS Hooks service over HTTP: discovery, cards, refusals (412/422/400/413), feedback, RiskAssessment."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from care_helpers import AS_OF, BASE_URL, PATIENT_ID, EhrKeys, hook_body, observation
from fastapi.testclient import TestClient
from fhir.resources.R4B.riskassessment import RiskAssessment

from dari.care import ServedModel
from dari.care.cds_service import EVALUATE_SERVICE_ID
from dari.care.risk_assessment import check_risk_assessment
from dari.models import assemble_inputs

SERVICE = "dari-ckd-progression-patient-view"
URL = f"{BASE_URL}/cds-services/{SERVICE}"


def _post(client: TestClient, keys: EhrKeys, body: Any, *, service: str = SERVICE, **headers: str) -> Any:
    token = keys.token(f"{BASE_URL}/cds-services/{service}")
    return client.post(f"/cds-services/{service}", json=body, headers={"Authorization": f"Bearer {token}", **headers})


def test_care_discovery_conforms_to_cds_hooks(client: TestClient) -> None:
    # Execute
    services = client.get("/cds-services").json()["services"]
    # Assert: required fields (hook, description, id) and prefetch derived from the spec
    by_hook = {s["hook"]: s for s in services}
    assert set(by_hook) == {"patient-view", "order-select"}
    assert by_hook["patient-view"]["id"] == SERVICE
    for s in services:
        assert {"hook", "description", "id", "title", "prefetch"} <= set(s)
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        obs = s["prefetch"]["observations"]
        assert obs.startswith("Observation?patient={{context.patientId}}&code=") and obs.endswith("&_sort=-date")
        for code in ("98979-8", "4548-4", "8480-6"):
            assert f"http://loinc.org|{code}" in obs
        assert s["prefetch"]["conditions"] == "Condition?patient={{context.patientId}}"
        assert "medications" not in s["prefetch"]  # the spec needs no medication


def test_care_patient_view_returns_card(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]], reference_model: ServedModel
) -> None:
    # Execute
    response = _post(client, ehr_keys, hook_body(prefetch()))
    # Assert
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    uuid.UUID(card["uuid"])
    assert len(card["summary"]) < 140 and "위험" in card["summary"]
    assert card["indicator"] in ("info", "warning", "critical")
    assert card["source"]["label"] == "dari ckd_progression_1y 1.0.0"
    assert {link["label"] for link in card["links"]} == {"모델 카드", "검증 보고서"}
    assert "사구체여과율(eGFR): 41 mL/min/1.73m²" in card["detail"]
    raw = {
        "age_years": (np.datetime64(AS_OF) - np.datetime64("1953-07-01")).astype(int) / 365.25,
        "male": True,
        "egfr": 41.0,
        "hba1c": 8.1,
        "sbp": 150.0,
        "diabetes": True,
        "heart_failure": False,
    }
    expected = float(reference_model.model.predict_proba(assemble_inputs(reference_model.spec, raw))[0])
    assert math.isclose(card["extension"]["dari-probability"], expected, rel_tol=1e-6)


def test_care_card_english_by_accept_language(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Execute
    response = _post(client, ehr_keys, hook_body(prefetch()), **{"Accept-Language": "en-US,en;q=0.9"})
    # Assert
    card = response.json()["cards"][0]
    assert card["summary"].startswith("Risk of eGFR below 30") and len(card["summary"]) < 140
    assert "Kidney function (eGFR): 41" in card["detail"]


def test_care_egfr_from_last_month_is_scored(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Prepare: the only eGFR is a month before the evaluation date; the spec's eGFR lookback is 90 days
    recent = observation("o-egfr", "98979-8", 41.0, "mL/min/{1.73_m2}", "2024-02-01")
    # Execute
    response = _post(client, ehr_keys, hook_body(prefetch(egfr=recent)))
    # Assert: scored on it (before, lookback 0 answered 412 on every day without a result)
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    assert card["extension"]["dari-inputs"]["egfr"] == 41.0


def test_care_missing_egfr_gives_no_card_with_reason(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Prepare: the only eGFR is older than the 90-day window
    old = observation("o-egfr", "98979-8", 41.0, "mL/min/{1.73_m2}", "2023-11-01")
    # Execute
    response = _post(client, ehr_keys, hook_body(prefetch(egfr=old)))
    # Assert: not an HTTP error (an EHR logs those), an empty card list and what to send
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cards"] == [] and body["extension"]["dari-reason"] == "missing_data"
    (needed,) = body["extension"]["dari-missing"]
    assert needed["feature"] == "egfr" and "2023-12-02 to 2024-03-01" in needed["needed"]


def test_care_missing_prefetch_key_is_412(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    data = prefetch()
    del data["conditions"]
    response = _post(client, ehr_keys, hook_body(data))
    assert response.status_code == 412
    assert response.json()["missing"] == [{"prefetch": "conditions"}]


def test_care_undeclared_unit_is_422(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Prepare: eGFR in mL/min (not per 1.73 m²): the spec declares no conversion
    bad = observation("o-egfr", "98979-8", 41.0, "mL/min")
    # Execute
    response = _post(client, ehr_keys, hook_body(prefetch(egfr=bad)))
    # Assert
    assert response.status_code == 422
    assert response.json()["feature"] == "egfr" and "mL/min" in response.json()["message"]


def test_care_out_of_range_is_422(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    impossible = observation("o-egfr", "98979-8", 410.0, "mL/min/{1.73_m2}")
    response = _post(client, ehr_keys, hook_body(prefetch(egfr=impossible)))
    assert response.status_code == 422
    assert response.json()["error"] == "unusable_out_of_range"


def test_care_outside_population_gives_no_card(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    normal = observation("o-egfr", "98979-8", 85.0, "mL/min/{1.73_m2}")
    response = _post(client, ehr_keys, hook_body(prefetch(egfr=normal)))
    assert response.status_code == 200
    assert response.json()["cards"] == [] and "outside" in response.json()["extension"]["dari-not-applicable"]


def test_care_malformed_fhir_is_400(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Prepare: a quantity value that is not a number
    bad = observation("o-egfr", "98979-8", 41.0, "mL/min/{1.73_m2}")
    bad["valueQuantity"]["value"] = "forty-one"
    # Execute
    response = _post(client, ehr_keys, hook_body(prefetch(egfr=bad)))
    # Assert
    assert response.status_code == 400
    assert "observations" in response.json()["message"] and "valueQuantity.value" in response.json()["message"]


def test_care_other_patients_data_is_400(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    foreign = observation("o-egfr", "98979-8", 41.0, "mL/min/{1.73_m2}")
    foreign["subject"] = {"reference": "Patient/someone-else"}
    response = _post(client, ehr_keys, hook_body(prefetch(egfr=foreign)))
    assert response.status_code == 400 and "context patient" in response.json()["message"]


def test_care_bad_hook_request_is_400(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    body = hook_body(prefetch())
    body["hookInstance"] = "not-a-uuid"
    response = _post(client, ehr_keys, body)
    assert response.status_code == 400 and "hookInstance" in response.json()["message"]


def test_care_oversized_request_is_413(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    body = hook_body(prefetch(), padding="x" * (1024 * 1024 + 10))
    response = _post(client, ehr_keys, body)
    assert response.status_code == 413


def test_care_order_select_scores_at_order_date(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Prepare: no as-of extension; the draft order's date picks the evaluation day
    body = hook_body(prefetch(), hook="order-select")
    del body["extension"]
    order = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "draft",
        "intent": "order",
        "authoredOn": AS_OF + "T09:00:00+09:00",
    }
    body["context"] |= {
        "selections": ["MedicationRequest/mr1"],
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]},
    }
    # Execute
    response = _post(client, ehr_keys, body, service="dari-ckd-progression-order-select")
    # Assert
    assert response.status_code == 200, response.text
    assert len(response.json()["cards"]) == 1


def test_care_feedback_recorded_without_patient_ids(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Prepare
    card = _post(client, ehr_keys, hook_body(prefetch())).json()["cards"][0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2024-03-01T10:00:00Z",
                "overrideReason": {"reason": card["overrideReasons"][2], "userComment": "pt p1 says"},
            }
        ]
    }
    token = ehr_keys.token(URL)
    # Execute
    response = client.post(
        f"/cds-services/{SERVICE}/feedback", json=feedback, headers={"Authorization": f"Bearer {token}"}
    )
    # Assert
    assert response.status_code == 200 and response.json() == {"recorded": 1}
    rows = client.app.state.feedback_store.feedback_rows()  # type: ignore[attr-defined]
    assert [(r.card_uuid, r.outcome, r.override_code) for r in rows] == [
        (card["uuid"], "overridden", "already-addressed")
    ]
    import sqlite3

    dump = "\n".join(sqlite3.connect(client.app.state.feedback_store.engine.url.database).iterdump())  # type: ignore[attr-defined]
    assert PATIENT_ID not in dump.replace("PRAGMA", "") and "pt p1" not in dump


def test_care_feedback_unknown_card_is_404(client: TestClient, ehr_keys: EhrKeys) -> None:
    feedback = {
        "feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted", "outcomeTimestamp": "2024-03-01T10:00:00Z"}]
    }
    token = ehr_keys.token(URL)
    response = client.post(
        f"/cds-services/{SERVICE}/feedback", json=feedback, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404


def test_care_risk_assessment_matches_card(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Prepare
    data = prefetch()
    card = _post(client, ehr_keys, hook_body(data)).json()["cards"][0]
    token = ehr_keys.token(f"{BASE_URL}/fhir")
    # Execute
    response = client.post(
        "/fhir/RiskAssessment/$evaluate",
        json={"patientId": PATIENT_ID, "prefetch": data, "asOf": AS_OF},
        headers={"Authorization": f"Bearer {token}"},
    )
    stored = client.get(
        f"/fhir/RiskAssessment/{card['uuid']}",
        headers={"Authorization": f"Bearer {ehr_keys.token(f'{BASE_URL}/fhir')}"},
    )
    # Assert
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+json")
    for body in (response.json(), stored.json()):
        resource = RiskAssessment.model_validate(body)
        check_risk_assessment(resource)
        assert resource.status == "final" and resource.subject.reference == f"Patient/{PATIENT_ID}"
        prediction = resource.prediction[0]
        assert prediction.outcome.coding[0].code == "ckd_progression_1y"
        assert math.isclose(float(prediction.probabilityDecimal), card["extension"]["dari-probability"], rel_tol=1e-9)
        assert {"Observation/o-egfr", "Condition/c-dm", "Patient/p1"} <= {b.reference for b in resource.basis}
    audited = client.app.state.inference_log.rows()[-1]  # type: ignore[attr-defined]
    assert audited.service_id == EVALUATE_SERVICE_ID and audited.status == 200
    assert audited.hook_instance == response.json()["id"] and audited.inputs_hmac is not None
    assert math.isclose(audited.probability, card["extension"]["dari-probability"], rel_tol=1e-12)
    assert PATIENT_ID not in audited.reason


def test_care_risk_assessment_bound_checked() -> None:
    resource = RiskAssessment.model_validate(
        {
            "resourceType": "RiskAssessment",
            "status": "final",
            "subject": {"reference": "Patient/x"},
            "prediction": [{"probabilityDecimal": 1.5}],
        }
    )
    import pytest

    from dari.errors import InputError

    with pytest.raises(InputError, match="outside"):
        check_risk_assessment(resource)
