"""The service's SQLite file: checkpoints in their own thread, started and stopped with the app; used JWT ids
shared by every process of the service and kept across restarts."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from care_helpers import BASE_URL, EhrKeys, hook_body
from fastapi.testclient import TestClient

from dari.care import CdsSettings, ServedModel, create_app
from dari.care.service_db import WalCheckpointer, tune_connection

SERVICE = "dari-ckd-progression-patient-view"


def test_care_checkpointer_copies_the_log_into_the_database(tmp_path: Path) -> None:
    # Prepare: 2,000 rows committed one by one in WAL mode, automatic checkpoints off to isolate the thread's work
    path = tmp_path / "cds.db"
    con = sqlite3.connect(path, isolation_level=None)
    tune_connection(con)
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("CREATE TABLE t (x TEXT)")
    for i in range(2000):
        con.execute("INSERT INTO t VALUES (?)", (f"row {i:04d} " + "x" * 200,))
    before = path.stat().st_size
    # Execute
    checkpointer = WalCheckpointer(path, every_s=0.02)
    checkpointer.start()
    deadline = time.monotonic() + 10
    while path.stat().st_size == before and time.monotonic() < deadline:
        time.sleep(0.02)
    checkpointer.stop()
    # Assert: the database file now holds the rows (copied from the log), and the thread is gone
    assert path.stat().st_size > before + 2000 * 200
    assert not any(t.name == "dari-cds-wal-checkpoint" for t in threading.enumerate())
    con.close()


def test_care_app_runs_checkpointer_while_serving(settings: CdsSettings, reference_model: ServedModel) -> None:
    app = create_app(settings, reference_model)
    with TestClient(app, base_url=BASE_URL):
        running = [t.name for t in threading.enumerate()]
    after = [t.name for t in threading.enumerate()]
    assert "dari-cds-wal-checkpoint" in running and "dari-cds-wal-checkpoint" not in after
    app.state.feedback_store.close()


def test_care_jti_store_refuses_replay_across_processes_until_expiry(tmp_path: Path) -> None:
    # Prepare: two stores on one file, as two worker processes of the service hold them
    from dari.care.service_db import SqliteJtiStore

    now = [1000.0]
    first, second = (SqliteJtiStore(tmp_path / "cds.db", clock=lambda: now[0]) for _ in range(2))
    # Execute / Assert: a token id used by one worker is refused by the other while the token lives
    assert first.claim("https://ehr", "t-1", 1300.0)
    assert not second.claim("https://ehr", "t-1", 1300.0)
    assert second.claim("https://other-ehr", "t-1", 1300.0)  # ids are per issuer
    now[0] = 1301.0
    assert second.claim("https://ehr", "t-1", 1600.0)  # expired: the row is taken over
    assert not first.claim("https://ehr", "t-1", 1600.0)
    first.close()
    second.close()


def test_care_jti_store_prunes_expired_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dari.care.service_db as service_db

    monkeypatch.setattr(service_db, "PRUNE_EVERY", 10)
    now = [0.0]
    store = service_db.SqliteJtiStore(tmp_path / "cds.db", clock=lambda: now[0])
    for i in range(9):
        store.claim("iss", f"old-{i}", 100.0)
    now[0] = 200.0
    store.claim("iss", "new", 500.0)  # the 10th claim prunes
    assert len(store) == 1
    store.close()


def test_care_replay_refused_after_restart(
    settings: CdsSettings, reference_model: ServedModel, ehr_keys: EhrKeys, prefetch: Callable[..., dict[str, Any]]
) -> None:
    # Prepare: one token, used once by a service that then stops
    token = ehr_keys.token(f"{BASE_URL}/cds-services/{SERVICE}")
    headers = {"Authorization": f"Bearer {token}"}
    statuses = []
    # Execute: the same token to the service, then to a new service on the same file (a restart, or another worker)
    for _ in range(2):
        app = create_app(settings, reference_model)
        with TestClient(app, base_url=BASE_URL) as client:
            response = client.post(f"/cds-services/{SERVICE}", json=hook_body(prefetch()), headers=headers)
            statuses.append((response.status_code, response.json().get("message", "")))
        app.state.feedback_store.close()
    # Assert
    assert statuses[0][0] == 200
    assert statuses[1][0] == 401 and "replay" in statuses[1][1]
