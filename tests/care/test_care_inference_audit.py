"""Every hook call is on the inference audit trail, scored or refused, with a keyed input hash and no identifiers."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from care_helpers import PATIENT_ID, EhrKeys, hook_body, observation
from fastapi.testclient import TestClient
from test_care_service import _post


def test_care_inference_audit_records_scored_and_refused_calls(
    client: TestClient, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Prepare
    log = client.app.state.inference_log  # type: ignore[attr-defined]
    before = len(log.rows())
    old = observation("o-egfr", "98979-8", 41.0, "mL/min/{1.73_m2}", "2023-11-01")  # outside the 90-day window
    no_conditions = prefetch()
    del no_conditions["conditions"]
    # Execute: one scored call twice (same inputs), one not scored (no card), one 412 (a prefetch key absent)
    first = _post(client, ehr_keys, hook_body(prefetch()))
    second = _post(client, ehr_keys, hook_body(prefetch()))
    unscored = _post(client, ehr_keys, hook_body(prefetch(egfr=old)))
    missing = _post(client, ehr_keys, hook_body(no_conditions))
    # Assert
    codes = (first.status_code, second.status_code, unscored.status_code, missing.status_code)
    assert codes == (200, 200, 200, 412) and unscored.json()["cards"] == []
    rows = log.rows()[before:]
    assert [r.status for r in rows] == [200, 200, 200, 412]
    assert rows[2].reason == "not scored: missing_data" and rows[2].card_uuid is None
    assert rows[0].inputs_hmac == rows[1].inputs_hmac and len(rows[0].inputs_hmac) == 64
    assert rows[0].card_uuid == first.json()["cards"][0]["uuid"]
    assert rows[0].probability == first.json()["cards"][0]["extension"]["dari-probability"]
    assert rows[3].probability is None and rows[3].card_uuid is None
    assert all(r.latency_ms > 0 and r.hook_instance and len(r.model_sha256) == 64 for r in rows)
    summary = {(s["status"], s["calls"]) for s in log.summary()}
    assert any(status == 412 for status, _calls in summary)
    dump = "\n".join(sqlite3.connect(log.engine.url.database).iterdump())
    assert PATIENT_ID not in dump  # no patient reference in the trail
