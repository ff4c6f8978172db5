"""One patient, two paths: CDM rows through `extract_cohort_features`, and the same rows as FHIR through the
CDS hook, must give the same model inputs and the same score."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
from care_helpers import BASE_URL, ISSUER, EhrKeys
from fastapi.testclient import TestClient

from dari.care import ServedModel
from dari.care.ehr_client import cdm_prefetch, hook_request, replay, sign_jwt
from dari.care.fhir_parse import prefetch_templates
from dari.cdm.store import open_store
from dari.models import assemble_inputs, extract_cohort_features

SERVICE = "dari-ckd-progression-patient-view"
N_PATIENTS = 12


@pytest.mark.slow
def test_care_fhir_and_cdm_paths_give_same_inputs_and_score(
    care_site: Path, client: TestClient, ehr_keys: EhrKeys, reference_model: ServedModel
) -> None:
    # Prepare: the CDM path's rows for the site's cohort
    spec = reference_model.spec
    store = open_store(care_site)
    frame = extract_cohort_features(store, spec)
    batch = frame.inputs(spec)
    members = np.flatnonzero(batch.scorable)[:N_PATIENTS]
    assert members.size >= 5, "the small site should hold a few scorable cohort members"
    templates = prefetch_templates(spec)
    aud = f"{BASE_URL}/cds-services/{SERVICE}"
    for i in members:
        person_id = int(frame.person_id[i])
        index = frame.index_date[i].astype(object)
        prefetch = cdm_prefetch(store, person_id, templates)
        assert len(prefetch["patient"]["birthDate"]) == 4  # year only, like a pseudonymised CDM
        body = hook_request("patient-view", str(person_id), prefetch, as_of=index)
        token = sign_jwt(ehr_keys.ec_pem, iss=ISSUER, aud=aud, kid="ec1")
        # Execute
        response = client.post(f"/cds-services/{SERVICE}", json=body, headers={"Authorization": f"Bearer {token}"})
        # Assert
        assert response.status_code == 200, response.text
        (card,) = response.json()["cards"]
        fhir_row = assemble_inputs(spec, card["extension"]["dari-inputs"])
        np.testing.assert_allclose(fhir_row, batch.x[i], rtol=1e-9, atol=1e-9, err_msg=f"person {person_id}")
        cdm_score = float(reference_model.model.predict_proba(batch.x[i])[0])
        assert card["extension"]["dari-probability"] == pytest.approx(cdm_score, rel=1e-9)
    store.close()


@pytest.mark.slow
def test_care_replay_client_reports_cards_and_latency(care_site: Path, client: TestClient, ehr_keys: EhrKeys) -> None:
    # Execute: the test EHR replays the site's first patients with an eGFR
    store = open_store(care_site)
    http: httpx.Client = client
    results = replay(http, BASE_URL, store, patients=8, key_pem=ehr_keys.ec_pem, iss=ISSUER, kid="ec1")
    store.close()
    # Assert: every call answered, with a card or an explicit refusal, and timed
    assert len(results) == 8
    assert {r.status for r in results} <= {200, 412, 422}
    assert any(r.status == 200 and r.body["cards"] for r in results)
    assert all(r.latency_ms > 0 for r in results)
