"""The CDS service's SQLite file, tuned for one small write per call: WAL, `synchronous=NORMAL`, and checkpoints
moved off the request path.

In WAL mode a commit appends to the log; every 1,000 log pages the committing connection copies them back into
the database and syncs it (an automatic checkpoint), which holds that one request for 20–50 ms on an ordinary
disk: about one call in 150 at the service's write rate, enough to own the 99th percentile. `WalCheckpointer`
checkpoints from a thread of its own every fraction of a second (PASSIVE: it never blocks a writer, and Python's
sqlite3 releases the GIL while SQLite works), so the automatic checkpoint finds nothing left to copy.
`synchronous=NORMAL` syncs at checkpoints only, not at each commit: the file stays consistent after a crash, and
an operating-system crash or power loss can lose the last commits, not corrupt the file.

`RawWriter` and `FixedInsert` are how the audit and card records are written on the latency path: one DB-API
connection of the store's engine (same pragmas) and statements compiled once cost a fraction of a SQLAlchemy Core
transaction (measured 0.6–1.1 ms a call through the pool).

`SqliteJtiStore` keeps the JWT ids already used in the same file, so that a replay is refused by every worker
process of the service and after a restart, not only by the process that saw the token first.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Engine

CHECKPOINT_EVERY_S = 0.2  # at 200 calls/s about 250 log pages per checkpoint
PRUNE_EVERY = 1000  # claims between deletions of expired token ids (an indexed delete of about as many rows)
log = logging.getLogger("dari.care.service_db")


def tune_connection(dbapi_connection: Any, _record: Any = None) -> None:
    """Pragmas for every connection to the service's file (a SQLAlchemy "connect" listener)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")  # one small insert per call: no journal written and synced each time
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class FixedInsert:
    """An INSERT of a table's columns (all but `skip`) compiled once, with each value passed through its column
    type's own bind converter, so the ORM reads back exactly what it would have written."""

    def __init__(self, table: Table, engine: Engine, skip: tuple[str, ...] = ()) -> None:
        dialect = engine.dialect
        self.keys = [c.key for c in table.columns if c.key not in skip]
        self.sql = str(insert(table).compile(dialect=dialect, column_keys=self.keys))
        processors = ((c.key, c.type.dialect_impl(dialect).bind_processor(dialect)) for c in table.columns)
        self._convert = {key: p for key, p in processors if p is not None and key in self.keys}

    def params(self, row: Mapping[str, Any]) -> list[Any]:
        """The row's values in statement order, converted for the database."""
        return [self._convert[k](row[k]) if k in self._convert else row[k] for k in self.keys]


class RawWriter:
    """One DB-API connection of an engine behind a lock; each `write` is one committed transaction."""

    def __init__(self, engine: Engine) -> None:
        self._connection = engine.raw_connection()
        self._lock = threading.Lock()

    def write(self, statements: Callable[[Any], None]) -> None:
        """Run `statements(cursor)` and commit, or roll back and re-raise."""
        with self._lock:
            cursor = self._connection.cursor()
            try:
                statements(cursor)
                self._connection.commit()
            except BaseException:
                self._connection.rollback()
                raise
            finally:
                cursor.close()

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()


class WalCheckpointer:
    """Checkpoints the service's WAL from a daemon thread, so that no request pays for one."""

    def __init__(self, database: Path, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.database = database
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin checkpointing (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="dari-cds-wal-checkpoint", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(self.database, timeout=10, check_same_thread=False)
        try:
            while not self._stop.wait(self.every_s):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # a busy or failing checkpoint is retried; writers then checkpoint
                    log.warning("WAL checkpoint of %s failed: %s", self.database.name, exc)
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


class SqliteJtiStore:
    """Token ids (`jti`) already used, per issuer, kept until their expiry in the service's file.

    One statement claims an id atomically across processes: insert it, or take over a row whose token has
    expired; a row of a live token is left alone and the claim fails (a replay)."""

    _CLAIM = (
        "INSERT INTO cds_jti (iss, jti, expires) VALUES (?, ?, ?) "
        "ON CONFLICT (iss, jti) DO UPDATE SET expires = excluded.expires WHERE cds_jti.expires <= ?"
    )

    def __init__(self, database: Path, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._connection = sqlite3.connect(database, timeout=10, isolation_level=None, check_same_thread=False)
        tune_connection(self._connection)
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS cds_jti (iss TEXT NOT NULL, jti TEXT NOT NULL, expires REAL NOT NULL, "
            "PRIMARY KEY (iss, jti)) WITHOUT ROWID"
        )
        self._connection.execute("CREATE INDEX IF NOT EXISTS ix_cds_jti_expires ON cds_jti (expires)")
        self._lock = threading.Lock()
        self._claims = 0

    def claim(self, iss: str, jti: str, until: float) -> bool:
        """Record (iss, jti) until `until` (epoch seconds); False when it is held by a token not expired yet."""
        now = self.clock()
        with self._lock:
            claimed = self._connection.execute(self._CLAIM, (iss, jti[:256], until, now)).rowcount == 1
            self._claims += 1
            if self._claims % PRUNE_EVERY == 0:
                self._connection.execute("DELETE FROM cds_jti WHERE expires <= ?", (now,))
        return claimed

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT count(*) FROM cds_jti").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
