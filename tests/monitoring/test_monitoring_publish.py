"""The publication: valid against the shared schema, nothing that identifies a patient, delivered three ways."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from monitoring_site_helpers import FHIR_ID_PREFIX, STREAM, Replayed

from dari.care.inference_audit import InferenceLog
from dari.monitoring.calls import read_calls
from dari.monitoring.check import MonitoringRun, run_monitoring
from dari.monitoring.publication import MonitoringPublication
from dari.monitoring.publish import (
    PublishError,
    build_publication,
    ingest_into_hub_store,
    post_to_hub,
    publication_json,
    since,
    split_publication,
    write_publication,
)
from dari.monitoring.reference import load_deployment


@pytest.fixture(scope="module")
def monitored(replayed: Replayed, deployment_dir: Path, stream_site: Path, patient_map: Path) -> MonitoringRun:
    """The replay monitored in two windows, outcomes linked from site B's CDM."""
    deployment = load_deployment(deployment_dir)
    return run_monitoring(
        replayed.database, deployment, site=stream_site, patient_map=patient_map, calls_per_window=STREAM
    )


@pytest.fixture(scope="module")
def publication(monitored: MonitoringRun, deployment_dir: Path) -> MonitoringPublication:
    """What site-1 publishes about the replay."""
    deployment = load_deployment(deployment_dir)
    return build_publication(
        deployment, site_id=monitored.site_id, policy=monitored.policy, windows=monitored.windows, calls=monitored.calls
    )


def test_monitoring_publication_is_valid_and_identifies_no_patient(
    publication: MonitoringPublication, replayed: Replayed
) -> None:
    # Prepare: what the site keeps to itself
    text = publication_json(publication)
    with sqlite3.connect(replayed.database) as con:
        hashes = [r[0] for r in con.execute("SELECT patient_hmac FROM cds_inference_site")]
        input_hashes = [
            r[0] for r in con.execute("SELECT inputs_hmac FROM cds_inference WHERE inputs_hmac IS NOT NULL")
        ]
    # Execute
    parsed = MonitoringPublication.model_validate_json(text)
    # Assert
    assert parsed == publication
    assert (len(parsed.windows), len(parsed.inferences)) == (2, 2 * STREAM)
    assert parsed.site_id == "site-1" and parsed.report_id == "rep-test-1"
    assert all(e.probability is not None and e.model_version == "1.0.0" for e in parsed.inferences)
    assert FHIR_ID_PREFIX not in text and not any(pid in text for pid in replayed.fhir_ids)
    assert hashes and not any(h in text for h in hashes)
    assert input_hashes and not any(h in text for h in input_hashes)
    assert not any(key in text for key in ("patient_hmac", "patientId", "evaluation_date", "inputs_hmac", "as_of"))


def test_monitoring_publication_carries_feedback_and_scrubbed_reasons(tmp_path: Path, deployment_dir: Path) -> None:
    # Prepare: a call refused with a reason that names the patient, written before scrubbing existed
    deployment = load_deployment(deployment_dir)
    db = tmp_path / "cds.db"
    log = InferenceLog(db)
    log.record(
        service_id="svc",
        hook_instance="h-1",
        model="m",
        model_sha256=deployment.model_sha256,
        inputs=None,
        status=400,
        reason="x",
        probability=None,
        indicator=None,
        card_uuid=None,
        latency_ms=2.0,
    )
    log.close()
    with sqlite3.connect(db) as con:
        con.execute("UPDATE cds_inference SET reason = 'Patient.id is ''ZZ-17'', not the context patientId ''ZZ-18'''")
    calls = read_calls(db)
    # Execute
    entry = build_publication(deployment, site_id="site-1", policy=deployment.policy(), windows=[], calls=calls)
    # Assert
    assert "ZZ-1" not in publication_json(entry) and entry.inferences[0].reason.startswith("Patient.id is '…'")


def test_monitoring_publication_parts_stay_within_hub_bounds(publication: MonitoringPublication) -> None:
    # Execute
    parts = split_publication(publication, max_windows=1, max_inferences=150)
    # Assert
    assert len(parts) == 3 and [len(p.windows) for p in parts] == [1, 1, 0]
    assert [len(p.inferences) for p in parts] == [150, 150, 100]
    assert [e for p in parts for e in p.inferences] == publication.inferences
    assert all(p.site_id == publication.site_id and p.policy == publication.policy for p in parts)


def test_monitoring_since_keeps_whole_windows(monitored: MonitoringRun) -> None:
    # Prepare: a moment inside the second window
    first, second = monitored.windows
    middle = second.start + (second.end - second.start) / 2
    # Execute
    windows, calls = since(monitored.windows, monitored.calls, middle)
    # Assert
    assert windows == [second] and len(calls) == STREAM and all(c.at >= second.start for c in calls)
    assert since(monitored.windows, monitored.calls, second.end + timedelta(days=1)) == ([], [])
    assert first.end <= second.start + timedelta(microseconds=1)


def test_monitoring_publication_file_and_rest_delivery(publication: MonitoringPublication, tmp_path: Path) -> None:
    # Prepare: a hub that checks the path and token, and one that refuses
    seen: list[httpx.Request] = []

    def hub(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "mon-7"})

    client = httpx.Client(transport=httpx.MockTransport(hub))
    refusing = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(403, json={"detail": "no"})))
    # Execute
    write_publication(publication, tmp_path / "pub.json")
    pub_id = post_to_hub(publication, "https://hub.test/", " tok-1\n", client=client)
    # Assert
    assert MonitoringPublication.model_validate_json((tmp_path / "pub.json").read_bytes()) == publication
    assert pub_id == "mon-7" and str(seen[0].url) == "https://hub.test/api/v1/monitoring"
    assert seen[0].headers["authorization"] == "Bearer tok-1"
    assert MonitoringPublication.model_validate_json(seen[0].content) == publication
    with pytest.raises(PublishError, match="HTTP 403"):
        post_to_hub(publication, "https://hub.test", "tok-1", client=refusing)
    assert not list(tmp_path.glob(".pub.json.*"))  # the atomic write left no temporary file


def test_monitoring_publication_into_hub_store(
    publication: MonitoringPublication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a hub store with the demo consortium and the model registered
    from argon2 import PasswordHasher, profiles

    import dari.hub.governance.users as users_module
    from dari.hub.db.engine import make_engine, migrate, session_factory
    from dari.hub.governance.deployment import register_model
    from dari.hub.governance.errors import ForbiddenError
    from dari.hub.governance.users import get_user
    from dari.hub.monitoring import alerts, timeline
    from dari.hub.seed import seed_consortium

    monkeypatch.setattr(users_module, "_HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    db = str(tmp_path / "hub.db")
    engine = make_engine(db)
    migrate(engine)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        admin = seed_consortium(session, "correct-horse-battery")["admin"]
        register_model(session, admin, publication.model_sha256, {})
    unreported = publication.model_copy(update={"report_id": None})  # no validation report on this hub
    # Execute
    ids = [ingest_into_hub_store(part, db, "steward1") for part in split_publication(unreported, max_inferences=300)]
    # Assert
    with factory() as session:
        stored = timeline(session, publication.model_sha256, "site-1")
        fired = alerts(session, publication.model_sha256, "site-1")
        stranger = get_user(session, "steward2")
    assert len(ids) == 2 and len(set(ids)) == 2
    assert [w.start for w in stored] == [w.start for w in publication.windows]
    assert {a.kind for a in fired} >= {"input_drift", "score_drift"}
    assert stranger.site_id == "site-2"
    with pytest.raises(ForbiddenError, match="may not publish"):
        ingest_into_hub_store(unreported, db, "steward2")
    engine.dispose()
