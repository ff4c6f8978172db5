"""The release ledger's store: person sets on record, and the search for an earlier set too close to a new one.

Each set is a sorted array of distinct 64-bit keyed hashes (`dari.federation.ledger`). A pair conflicts when
1 ≤ |A △ B| < floor and at least one of the two was released unsuppressed. Finding the candidates:

* |A △ B| ≥ ||A| − |B||: only sets within floor − 1 of the new one's size;
* with K = 2·floor (each set's K smallest hashes are stored with its size in a key segment): of the K smallest
  hashes of A ∪ B at most floor − 1 lie in A △ B, and each of the others is among the K smallest of A and of B. So a
  conflicting pair shares at least min(K, max(|A|, |B|)) − floor + 1 of the K smallest hashes each set stores:
  binary searches (numpy) of all of a release's new sets' keys in every segment find every candidate and drop the
  many unrelated small sets that share an element or two;
* each candidate is first bounded on its 2,048 smallest hashes (`head`), read in full only when that bound is
  below the floor.

Layout: SQLite (`releases`, `cells`, the manifest tables `segments` and `member_files`) holds the metadata; the
hashes live in fsynced, append-only files (`dari.federation.ledger_segments`) written before the transaction that
names them commits. A random insert into a big SQLite key index dirtied (and fsynced) most of its pages per job and
the indexed join cost 25–30 ms; the segments are searched in about a millisecond. Ledgers of the earlier layout
(keys in the `cell_keys` / `recent_keys` tables, sets as blobs in `cells`) are migrated on open (`migrate`): their
keys move to one segment, their sets stay where they are and are read from there.

Cells indexed with fewer keys than this floor needs (stored under a lower floor) are scanned by size instead.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dari.federation import ledger_segments as seg
from dari.federation.ledger_segments import Hashes

Cell = tuple[str, Hashes, bool]  # key, members, released unsuppressed
HEAD = 2048
KEYS_PER_FLOOR = 2
_CHUNK = 500  # SQL parameters per IN list
_TOP = np.uint64(0xFFFFFFFFFFFFFFFF)

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
  id INTEGER PRIMARY KEY, at TEXT NOT NULL, grant_id TEXT NOT NULL, requester TEXT NOT NULL, cells INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
  id INTEGER PRIMARY KEY, release_id INTEGER NOT NULL REFERENCES releases(id), grant_id TEXT NOT NULL,
  requester TEXT NOT NULL, cell TEXT NOT NULL, size INTEGER NOT NULL, released INTEGER NOT NULL,
  keys INTEGER NOT NULL, digest BLOB NOT NULL, head BLOB NOT NULL, members BLOB NOT NULL, mfile TEXT, moff INTEGER,
  UNIQUE (grant_id, requester, digest));
CREATE INDEX IF NOT EXISTS cells_by_size ON cells (size, released);
CREATE INDEX IF NOT EXISTS cells_by_digest ON cells (digest);
CREATE INDEX IF NOT EXISTS cells_by_keys ON cells (keys, size);
CREATE TABLE IF NOT EXISTS segments (
  id INTEGER PRIMARY KEY, file TEXT NOT NULL UNIQUE, keys INTEGER NOT NULL, level INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS member_files (file TEXT PRIMARY KEY);
"""


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


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, (name,)).fetchone() is not None


def migrate(conn: sqlite3.Connection, folder: Path) -> None:
    """Bring a ledger of the earlier all-SQLite layout to segments, in one transaction (a no-op when current)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(cells)")}
    if "mfile" in columns and not _table_exists(conn, "cell_keys"):
        return
    conn.execute("BEGIN IMMEDIATE")
    written: list[str] = []
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(cells)")}  # again, under the write lock
        if "mfile" not in columns:
            conn.execute("ALTER TABLE cells ADD COLUMN mfile TEXT")
            conn.execute("ALTER TABLE cells ADD COLUMN moff INTEGER")
        old = [t for t in ("cell_keys", "recent_keys") if _table_exists(conn, t)]
        if old:
            rows = [r for t in old for r in conn.execute(f"SELECT hash, size, cell_id FROM {t}")]
            if rows:
                keys = np.asarray(rows, dtype=np.int64).T
                name = seg.write_keys(folder, keys[0].view(np.uint64), keys[1], keys[2])
                written.append(name)
                seg.sync_folder(folder)
                conn.execute("INSERT INTO segments (file, keys) VALUES (?, ?)", (name, len(rows)))
            for t in old:
                conn.execute(f"DROP TABLE {t}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        for name in written:
            (folder / name).unlink(missing_ok=True)
        raise


class LedgerStore:
    """The store of one site's ledger (SQLite metadata, hashes in files), seen by one job."""

    def __init__(self, conn: sqlite3.Connection, folder: Path, grant_id: str, requester: str, site_wide: bool) -> None:
        self.conn, self.folder, self.grant_id, self.requester = conn, folder, grant_id, requester
        self.site_wide = site_wide
        self.written: list[str] = []  # files this release wrote (deleted if it rolls back)
        self.obsolete: list[str] = []  # segments merged away (deleted once the release commits)
        self._digests: dict[int, bytes] = {}

    def digest(self, m: Hashes) -> bytes:
        """`digest(m)`, computed once per array this release holds (it is needed three times per set)."""
        d = self._digests.get(id(m))
        if d is None:
            d = self._digests[id(m)] = digest(m)
        return d

    def _in_scope(self, grant_id: str, requester: str) -> bool:
        return self.site_wide or (grant_id == self.grant_id and requester == self.requester)

    def _released_before(self, digests: list[bytes]) -> dict[bytes, int]:
        """digest → 1 if released unsuppressed before, 0 if only suppressed (absent: never on record)."""
        scope, extra = ("", []) if self.site_wide else (" AND grant_id = ? AND requester = ?", [*self._who()])
        known: dict[bytes, int] = {}
        for part in _chunks(digests):
            sql = f"SELECT digest, max(released) FROM cells WHERE digest IN ({','.join('?' * len(part))}){scope}"
            known.update(self.conn.execute(sql + " GROUP BY digest", [*part, *extra]).fetchall())
        return known

    def _who(self) -> tuple[str, str]:
        return self.grant_id, self.requester

    def _set(self, cid: int, size: int, count: int) -> Hashes:
        """The first `count` hashes of a stored set (from its member file, or the earlier layout's blobs)."""
        mfile, moff, head, members = self.conn.execute(
            "SELECT mfile, moff, head, members FROM cells WHERE id = ?", (cid,)
        ).fetchone()
        if mfile is not None:
            return seg.read_members(self.folder, mfile, int(moff), min(count, size))
        whole = np.frombuffer(members or head, "<u8")
        return whole[:count]

    def _close(self, m: Hashes, cid: int, size: int, floor: int) -> bool:
        if head_bound(m[:HEAD], m.size, self._set(cid, size, HEAD), size) >= floor:
            return False
        return 1 <= symmetric_difference_size(m, self._set(cid, size, size)) < floor

    def _candidates(self, todo: dict[int, tuple[Hashes, bool, bytes]], floor: int) -> list[tuple[int, int, int]]:
        """(new set, stored cell, its size) pairs sharing enough of their smallest hashes, over every segment."""
        k = KEYS_PER_FLOOR * floor
        order = list(todo)
        heads = [todo[i][0][:k] for i in order]
        probe = np.concatenate(heads)
        owner = np.repeat(np.arange(len(order)), [h.size for h in heads])
        by_hash = np.argsort(probe, kind="stable")
        probe, owner = probe[by_hash], owner[by_hash]
        sizes = np.asarray([todo[i][0].size for i in order], np.int64)
        found_p, found_c, found_s = [], [], []
        for name, n in self.conn.execute("SELECT file, keys FROM segments"):
            which, cid, csize = seg.matches(seg.load_keys(self.folder, name, n), probe, sizes[owner], floor)
            found_p.append(owner[which])
            found_c.append(cid)
            found_s.append(csize)
        if not found_p:
            return []
        p, c, cs = np.concatenate(found_p), np.concatenate(found_c), np.concatenate(found_s)
        if p.size == 0:
            return []
        pair = p * (int(c.max()) + 1) + c
        uniq, first, shared = np.unique(pair, return_index=True, return_counts=True)
        del uniq
        p, c, cs = p[first], c[first], cs[first]
        need = np.minimum(k, np.maximum(sizes[p], cs)) - floor + 1
        keep = shared >= need
        return [(order[i], int(cid), int(n)) for i, cid, n in zip(p[keep], c[keep], cs[keep], strict=True)]

    def conflicts(self, cells: list[Cell], floor: int) -> bool:
        """Whether any new set lies 1 … floor − 1 persons from a set on record (inside the open transaction)."""
        digests = [self.digest(m) for _, m, _ in cells]
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
        pairs = self._candidates(todo, floor)
        meta: dict[int, tuple[bytes, int, str, str]] = {}
        for part in _chunks(sorted({cid for _, cid, _ in pairs})):
            sql = (
                f"SELECT id, digest, released, grant_id, requester FROM cells WHERE id IN ({','.join('?' * len(part))})"
            )
            meta.update((r[0], r[1:]) for r in self.conn.execute(sql, list(part)))
        for i, cid, size in pairs:
            m, rel, d = todo[i]
            other, released, grant_id, requester = meta[cid]
            if not (rel or released) or not self._in_scope(grant_id, requester) or other == d:
                continue
            if self._close(m, cid, size, floor):
                return True
        return self._scan_few_keys(list(todo.values()), floor)

    def _scan_few_keys(self, todo: list[tuple[Hashes, bool, bytes]], floor: int) -> bool:
        """The size scan for cells stored with fewer keys than this floor needs (rare: a floor raised later)."""
        k = KEYS_PER_FLOOR * floor
        if self.conn.execute("SELECT 1 FROM cells WHERE keys < ? LIMIT 1", (k,)).fetchone() is None:
            return False
        scope, extra = ("", []) if self.site_wide else (" AND c.grant_id = ? AND c.requester = ?", [*self._who()])
        for m, rel, d in todo:
            sql = "SELECT c.id, c.digest, c.size FROM cells c WHERE c.keys < ? AND c.size BETWEEN ? AND ?"
            sql += ("" if rel else " AND c.released = 1") + scope
            hits = self.conn.execute(sql, [k, m.size - floor + 1, m.size + floor - 1, *extra]).fetchall()
            for cid, other, size in hits:
                if other != d and self._close(m, cid, size, floor):
                    return True
        return False

    def _collect_garbage(self) -> None:
        """Files left by a release that never committed (a crash between its files and its commit)."""
        names = {n for (n,) in self.conn.execute("SELECT file FROM segments UNION ALL SELECT file FROM member_files")}
        seg.collect_garbage(self.folder, names)

    def record(self, release_id: int | None, cells: list[Cell], floor: int) -> None:
        """Store the release's sets (a set already on record for this grant and requester: its flag only)."""
        k = KEYS_PER_FLOOR * floor
        self._collect_garbage()  # under the write lock: no other release is between its files and its commit
        rows = [(key, m, rel, self.digest(m)) for key, m, rel in cells]
        existing: set[bytes] = set()
        for part in _chunks([d for *_, d in rows]):
            marks = ",".join("?" * len(part))
            sql = f"SELECT digest FROM cells WHERE grant_id = ? AND requester = ? AND digest IN ({marks})"
            existing.update(d for (d,) in self.conn.execute(sql, [*self._who(), *part]))
        who = self._who()
        self.conn.executemany(
            "UPDATE cells SET released = max(released, ?) WHERE grant_id = ? AND requester = ? AND digest = ?",
            [(int(rel), *who, d) for _, _, rel, d in rows if d in existing],
        )
        new = [(key, m, rel, d) for key, m, rel, d in rows if d not in existing]
        if not new:
            return
        # ids given here (the release's transaction holds the write lock) so the rows go in one executemany
        (last,) = self.conn.execute("SELECT coalesce(max(id), 0) FROM cells").fetchone()
        ids = list(range(last + 1, last + 1 + len(new)))
        mfile, offsets = seg.write_members(self.folder, [m for _, m, _, _ in new])
        self.written.append(mfile)
        heads = [m[:k] for _, m, _, _ in new]
        counts = [h.size for h in heads]
        keys = seg.write_keys(
            self.folder,
            np.concatenate(heads),
            np.repeat(np.asarray([m.size for _, m, _, _ in new], np.uint64), counts),
            np.repeat(np.asarray(ids, np.uint64), counts),
        )
        self.written.append(keys)
        self._merge(keys, int(sum(counts)))
        seg.sync_folder(self.folder)  # every new file's name durable before the manifest commits
        self.conn.execute("INSERT INTO member_files (file) VALUES (?)", (mfile,))
        self.conn.executemany(
            "INSERT INTO cells (id, release_id, grant_id, requester, cell, size, released, keys, digest, head,"
            " members, mfile, moff) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, x'', x'', ?, ?)",
            [
                (cid, release_id, *who, key, m.size, int(rel), k, d, mfile, off)
                for cid, (key, m, rel, d), off in zip(ids, new, offsets, strict=True)
            ],
        )

    def _merge(self, keys: str, count: int) -> None:
        """Add the release's key segment to the manifest, merging the newest segments LSM-style."""
        segments = self.conn.execute("SELECT id, file, keys, level FROM segments ORDER BY id").fetchall()
        segments.append((None, keys, count, 0))
        while take := seg.to_merge([level for *_, level in segments]):
            group, segments = segments[-take:], segments[:-take]
            merged = seg.merge_keys(self.folder, [(name, n) for _, name, n, _ in group])
            self.written.append(merged)
            self.obsolete.extend(name for _, name, _, _ in group)
            segments.append((group[0][0], merged, sum(n for _, _, n, _ in group), group[0][3] + 1))
        for part in _chunks(self.obsolete):
            self.conn.execute(f"DELETE FROM segments WHERE file IN ({','.join('?' * len(part))})", list(part))
        for sid, name, n, level in segments:
            if name in self.written:  # a segment this release wrote: its id is the first it replaced (order kept)
                self.conn.execute(
                    "INSERT INTO segments (id, file, keys, level) VALUES (?, ?, ?, ?)", (sid, name, n, level)
                )
