"""The release ledger's SQLite store: person sets on record, and the search for an earlier set too close to a new one.

Each set is a sorted array of distinct 64-bit keyed hashes (`dari.federation.ledger`). A pair conflicts when
1 ≤ |A △ B| < floor and at least one of the two was released unsuppressed. Finding the candidates:

* |A △ B| ≥ ||A| − |B||: only sets within floor − 1 of the new one's size;
* with K = 2·floor (the index `cell_keys` holds each set's K smallest hashes with its size): of the K smallest
  hashes of A ∪ B at most floor − 1 lie in A △ B, and each of the others is among the K smallest of A and of B. So a
  conflicting pair shares at least min(K, max(|A|, |B|)) − floor + 1 of the K smallest hashes each set stores in
  `cell_keys`: one indexed join over all of a release's new sets finds every candidate and drops the many unrelated
  small sets that share an element or two;
* each candidate is first bounded on its 2,048 smallest hashes (`head`), read in full only when that bound is
  below the floor.

The keys live in two trees: `recent_keys` (small, where each release's keys land) and `cell_keys` (the rest, fed
in one sorted batch past `RECENT_MAX` keys, inside a release's transaction): random inserts into one big tree
dirtied nearly every page of it each job, and WAL durability (`synchronous=FULL`) wrote and fsynced them all.

Cells indexed with fewer keys than this floor needs (stored under a lower floor) are scanned by size instead.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Hashes = npt.NDArray[np.uint64]
Cell = tuple[str, Hashes, bool]  # key, members, released unsuppressed
HEAD = 2048
KEYS_PER_FLOOR = 2
_CHUNK = 500  # SQL parameters per IN list
# New releases' keys go to the small `recent_keys` tree and move to `cell_keys` in one sorted batch past this many:
# a random insert dirties a page of the tree it lands in, so ~11,000 keys into the big tree rewrote (and fsynced)
# nearly all of its pages, 9 MB per job at 330,000 keys; the small tree has few pages to dirty.
RECENT_MAX = 100_000
_TOP = np.uint64(0xFFFFFFFFFFFFFFFF)

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
  id INTEGER PRIMARY KEY, at TEXT NOT NULL, grant_id TEXT NOT NULL, requester TEXT NOT NULL, cells INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
  id INTEGER PRIMARY KEY, release_id INTEGER NOT NULL REFERENCES releases(id), grant_id TEXT NOT NULL,
  requester TEXT NOT NULL, cell TEXT NOT NULL, size INTEGER NOT NULL, released INTEGER NOT NULL,
  keys INTEGER NOT NULL, digest BLOB NOT NULL, head BLOB NOT NULL, members BLOB NOT NULL,
  UNIQUE (grant_id, requester, digest));
CREATE INDEX IF NOT EXISTS cells_by_size ON cells (size, released);
CREATE INDEX IF NOT EXISTS cells_by_digest ON cells (digest);
CREATE INDEX IF NOT EXISTS cells_by_keys ON cells (keys, size);
CREATE TABLE IF NOT EXISTS cell_keys (
  hash INTEGER NOT NULL, size INTEGER NOT NULL, cell_id INTEGER NOT NULL REFERENCES cells(id),
  PRIMARY KEY (hash, size, cell_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent_keys (
  hash INTEGER NOT NULL, size INTEGER NOT NULL, cell_id INTEGER NOT NULL REFERENCES cells(id),
  PRIMARY KEY (hash, size, cell_id)) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS probe (
  i INTEGER NOT NULL, hash INTEGER NOT NULL, size INTEGER NOT NULL, released INTEGER NOT NULL);
"""


# a probe's matches in one key table (each set's keys are in exactly one of the two, so the counts add up)
_MATCH = (
    "SELECT p.i AS i, p.size AS n, p.released AS rel, k.cell_id AS cid FROM temp.probe p JOIN {table} k"
    " ON k.hash = p.hash AND k.size BETWEEN p.size - ? + 1 AND p.size + ? - 1"
)


def symmetric_difference_size(a: Hashes, b: Hashes) -> int:
    """|A △ B| of two sorted arrays of distinct values."""
    if a.size > b.size:
        a, b = b, a
    if a.size == 0:
        return int(b.size)
    idx = np.minimum(np.searchsorted(b, a), b.size - 1)
    common = int(np.count_nonzero(b[idx] == a))
    return int(a.size + b.size - 2 * common)


def head_bound(a: Hashes, a_size: int, b: Hashes, b_size: int) -> int:
    """A lower bound on |A △ B| from the smallest hashes of each set (exact when both heads are whole sets)."""
    cover = min(a[-1] if a.size < a_size else _TOP, b[-1] if b.size < b_size else _TOP)
    return symmetric_difference_size(a[a <= cover], b[b <= cover])


def digest(m: Hashes) -> bytes:
    """SHA-256 of a set's canonical bytes (equal sets, equal digests)."""
    return hashlib.sha256(m.tobytes()).digest()


def _rest(m: Hashes) -> bytes:
    """The full set for the `members` column; empty when the head already holds all of it (most cells)."""
    return m.tobytes() if m.size > HEAD else b""


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class LedgerStore:
    """The SQLite file of one site's ledger, seen by one job (its grant, requester and scope)."""

    def __init__(self, conn: sqlite3.Connection, grant_id: str, requester: str, site_wide: bool) -> None:
        self.conn, self.grant_id, self.requester, self.site_wide = conn, grant_id, requester, site_wide

    def _scope(self, prefix: str = "c.") -> tuple[str, list[Any]]:
        if self.site_wide:
            return "", []
        return f" AND {prefix}grant_id = ? AND {prefix}requester = ?", [self.grant_id, self.requester]

    def _released_before(self, digests: list[bytes]) -> dict[bytes, int]:
        """digest → 1 if released unsuppressed before, 0 if only suppressed (absent: never on record)."""
        scope, extra = self._scope("")
        known: dict[bytes, int] = {}
        for part in _chunks(digests):
            sql = f"SELECT digest, max(released) FROM cells WHERE digest IN ({','.join('?' * len(part))}){scope}"
            known.update(self.conn.execute(sql + " GROUP BY digest", [*part, *extra]).fetchall())
        return known

    def _close(self, m: Hashes, cid: int, head: bytes, size: int, floor: int) -> bool:
        if head_bound(m[:HEAD], m.size, np.frombuffer(head, "<u8"), size) >= floor:
            return False
        (blob,) = self.conn.execute("SELECT members FROM cells WHERE id = ?", (cid,)).fetchone()
        return 1 <= symmetric_difference_size(m, np.frombuffer(blob or head, "<u8")) < floor  # small: head is all

    def conflicts(self, cells: list[Cell], floor: int) -> bool:
        """Whether any new set lies 1 … floor − 1 persons from a set on record (inside the open transaction)."""
        k = KEYS_PER_FLOOR * floor
        digests = [digest(m) for _, m, _ in cells]
        known = self._released_before(digests)
        # A set released before (as openly as now) adds nothing: every pair it forms was judged when it first left
        # (against earlier releases here, within its own release by that job's disclosure control).
        todo = {
            i: (m, rel, d)
            for i, ((_, m, rel), d) in enumerate(zip(cells, digests, strict=True))
            if d not in known or (rel and not known[d])
        }
        if not todo:
            return False
        self.conn.execute("DELETE FROM temp.probe")
        probe = [(i, h, m.size, int(rel)) for i, (m, rel, _) in todo.items() for h in m[:k].view(np.int64).tolist()]
        self.conn.executemany("INSERT INTO temp.probe (i, hash, size, released) VALUES (?, ?, ?, ?)", probe)
        scope, extra = self._scope()
        # every filter in SQL, so the heads (16 kB each) of the many sets that merely share small hashes stay unread
        rows = self.conn.execute(
            "SELECT s.i, c.id, c.digest, c.head, c.size FROM (SELECT i, n, rel,"
            " cid, count(*) AS shared FROM ("
            f"{_MATCH.format(table='cell_keys')} UNION ALL {_MATCH.format(table='recent_keys')}"
            ") GROUP BY i, cid) s"
            " JOIN cells c ON c.id = s.cid"
            " WHERE c.size BETWEEN s.n - ? + 1 AND s.n + ? - 1 AND (s.rel = 1 OR c.released = 1)"
            f" AND s.shared >= min(?, max(s.n, c.size)) - ? + 1{scope}",
            [floor, floor, floor, floor, floor, floor, k, floor, *extra],
        )
        for i, cid, other, head, size in rows:
            m, _, d = todo[i]
            if other != d and self._close(m, cid, head, size, floor):
                return True
        return self._scan_few_keys(list(todo.values()), floor)

    def _scan_few_keys(self, todo: list[tuple[Hashes, bool, bytes]], floor: int) -> bool:
        """The size scan for cells stored with fewer keys than this floor needs (rare: a floor raised later)."""
        k = KEYS_PER_FLOOR * floor
        if self.conn.execute("SELECT 1 FROM cells WHERE keys < ? LIMIT 1", (k,)).fetchone() is None:
            return False
        scope, extra = self._scope()
        for m, rel, d in todo:
            sql = "SELECT c.id, c.digest, c.head, c.size FROM cells c WHERE c.keys < ? AND c.size BETWEEN ? AND ?"
            sql += ("" if rel else " AND c.released = 1") + scope
            for cid, other, head, size in self.conn.execute(sql, [k, m.size - floor + 1, m.size + floor - 1, *extra]):
                if other != d and self._close(m, cid, head, size, floor):
                    return True
        return False

    def record(self, release_id: int | None, cells: list[Cell], floor: int) -> None:
        """Store the release's sets (a set already on record for this grant and requester: its flag only)."""
        k = KEYS_PER_FLOOR * floor
        rows = [(key, m, rel, digest(m)) for key, m, rel in cells]
        existing: set[bytes] = set()
        for part in _chunks([d for *_, d in rows]):
            marks = ",".join("?" * len(part))
            sql = f"SELECT digest FROM cells WHERE grant_id = ? AND requester = ? AND digest IN ({marks})"
            existing.update(d for (d,) in self.conn.execute(sql, [self.grant_id, self.requester, *part]))
        who = (self.grant_id, self.requester)
        self.conn.executemany(
            "UPDATE cells SET released = max(released, ?) WHERE grant_id = ? AND requester = ? AND digest = ?",
            [(int(rel), *who, d) for _, _, rel, d in rows if d in existing],
        )
        # ids given here (the release's transaction holds the write lock) so the rows go in one executemany
        (last,) = self.conn.execute("SELECT coalesce(max(id), 0) FROM cells").fetchone()
        new = [(key, m, rel, d) for key, m, rel, d in rows if d not in existing]
        ids = range(last + 1, last + 1 + len(new))
        self.conn.executemany(
            "INSERT INTO cells (id, release_id, grant_id, requester, cell, size, released, keys, digest, head, members)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (cid, release_id, *who, key, m.size, int(rel), k, d, m[:HEAD].tobytes(), _rest(m))
                for cid, (key, m, rel, d) in zip(ids, new, strict=True)
            ],
        )
        keys = [
            (h, m.size, cid) for cid, (_, m, _, _) in zip(ids, new, strict=True) for h in m[:k].view(np.int64).tolist()
        ]
        self.conn.executemany("INSERT INTO recent_keys (hash, size, cell_id) VALUES (?, ?, ?)", keys)
        (recent,) = self.conn.execute("SELECT count(*) FROM recent_keys").fetchone()
        if recent > RECENT_MAX:  # inside the release's transaction: a power cut leaves the keys in one table
            self.conn.execute("INSERT INTO cell_keys SELECT * FROM recent_keys ORDER BY hash, size, cell_id")
            self.conn.execute("DELETE FROM recent_keys")
