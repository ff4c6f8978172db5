"""The inference log's site-only additions: model inputs and a keyed patient hash with the evaluation date."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from datetime import date
from pathlib import Path

from monitoring_site_helpers import FHIR_ID_PREFIX, Replayed

from dari.care.feedback import FeedbackItem, FeedbackRequest, FeedbackStore
from dari.care.inference_audit import InferenceLog, audit_key_path, patient_key, scrub_reason
from dari.monitoring.calls import read_calls
from dari.privacy.keys import derive, load_key

SHA = "a" * 64


def _record(log: InferenceLog, **extra: object) -> None:
    base: dict[str, object] = {
        "service_id": "dari-ckd-progression-patient-view",
        "hook_instance": "0b9f4c1e-0000-4000-8000-000000000001",
        "model": "ckd_progression_1y 1.0.0",
        "model_sha256": SHA,
        "inputs": {"age_years": 71.2, "male": True, "hba1c": None},
        "status": 200,
        "reason": "card",
        "probability": 0.31,
        "indicator": "warning",
        "card_uuid": "6f1c2d3e-0000-4000-8000-000000000002",
        "latency_ms": 4.2,
    }
    log.record(**(base | extra))  # type: ignore[arg-type]


def test_monitoring_inference_log_keeps_inputs_and_keyed_patient_hash(tmp_path: Path) -> None:
    # Prepare
    db = tmp_path / "cds.db"
    log = InferenceLog(db)
    # Execute: a scored call, a refused call that knew its patient, a 401 recorded the old way (nothing to keep)
    _record(log, patient_id="pat-901", evaluation_date=date(2024, 3, 1))
    _record(log, probability=None, card_uuid=None, status=422, reason="unusable", patient_id="pat-902")
    _record(log, inputs=None, probability=None, indicator=None, card_uuid=None, status=401, reason="no JWT")
    # Assert
    site = log.site_rows()
    calls = log.rows()
    assert [s.inference_id for s in site] == [calls[0].id, calls[1].id]  # nothing kept for the 401
    expected = hmac.new(derive(load_key(audit_key_path(db)), "cds-inference-patient"), b"pat-901", hashlib.sha256)
    assert site[0].patient_hmac == expected.hexdigest() == log.patient_hash("pat-901")
    assert site[0].patient_hmac != calls[0].inputs_hmac  # one key per purpose
    assert site[0].evaluation_date == date(2024, 3, 1)
    assert json.loads(site[0].inputs_json or "") == {"age_years": 71.2, "male": 1.0, "hba1c": None}
    assert site[1].inputs_json is None and site[1].patient_hmac == log.patient_hash("pat-902")
    assert patient_key(audit_key_path(db)) == derive(load_key(audit_key_path(db)), "cds-inference-patient")
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert "pat-90" not in dump
    log.close()


def test_monitoring_scrub_reason_removes_patient_and_resource_ids() -> None:
    # Prepare: messages the FHIR checks produce, with the ids they echo
    mismatch = "Patient.id is 'pat-77', not the context patientId 'pat-78'"
    subject = "Observation/obs-5.subject does not refer to the context patient Patient/pat-78"
    # Execute
    cleaned = [scrub_reason(mismatch), scrub_reason(subject), scrub_reason("required data missing for egfr")]
    # Assert
    assert not any("pat-7" in c or "obs-5" in c for c in cleaned)
    assert cleaned[0] == "Patient.id is '…', not the context patientId '…'"
    assert cleaned[1] == "Observation/….subject does not refer to the context patient Patient/…"
    assert cleaned[2] == "required data missing for egfr"


def test_monitoring_inference_log_scrubs_reason_on_record(tmp_path: Path) -> None:
    # Prepare
    log = InferenceLog(tmp_path / "cds.db")
    # Execute
    _record(log, status=400, probability=None, reason="Patient.id is 'pat-55', not the context patientId 'pat-56'")
    # Assert
    assert "pat-5" not in log.rows()[0].reason
    log.close()


def test_monitoring_read_calls_joins_site_facts_and_latest_feedback(tmp_path: Path) -> None:
    # Prepare: one scored call whose card got accepted, then overridden
    db = tmp_path / "cds.db"
    log, store = InferenceLog(db), FeedbackStore(db)
    card = "6f1c2d3e-0000-4000-8000-000000000002"
    store.record_card(card, "svc", "ckd_progression_1y 1.0.0", "warning", 0.31)
    _record(log, service_id="svc", patient_id="pat-1", evaluation_date=date(2024, 3, 1))
    for outcome in ("accepted", "overridden"):
        item = FeedbackItem(card=card, outcome=outcome, outcomeTimestamp="2024-03-01T10:00:00Z")  # type: ignore[arg-type]
        store.record_feedback("svc", FeedbackRequest(feedback=(item,)))
    # Execute
    (call,) = read_calls(db, model_sha256=SHA)
    # Assert
    assert call.feedback == "overridden"
    assert call.evaluation_date == date(2024, 3, 1) and call.patient_hmac == log.patient_hash("pat-1")
    assert call.inputs == {"age_years": 71.2, "male": 1.0, "hba1c": None}
    assert call.at.tzinfo is not None and call.scored
    assert read_calls(db, model_sha256="b" * 64) == []
    log.close()
    store.close()


def test_monitoring_service_log_has_no_patient_id(replayed: Replayed) -> None:
    # Prepare
    dump = "\n".join(sqlite3.connect(replayed.database).iterdump())
    calls = read_calls(replayed.database)
    # Assert: every scored call kept its inputs, hash and date; no FHIR patient id anywhere in the file
    assert FHIR_ID_PREFIX not in dump
    assert all(c.inputs is not None and c.patient_hmac and c.evaluation_date for c in calls if c.scored)
    assert {r.as_of for r in replayed.replay.unshifted} >= {c.evaluation_date for c in calls[:10]}
