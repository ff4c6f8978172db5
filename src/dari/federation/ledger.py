"""The site's release ledger: every released cell on record by the person set behind it, so differencing is refused.

Two releases whose person sets differ by a few people give those people away: Table 1 of 11 persons and of 10
gives the eleventh's age; two validations give one patient's (p − y)². The ledger keeps, at the site
(`SITE/ledger/releases.sqlite3`), the set behind every cell a site released — a count, a statistic, a histogram
bin — as sorted 64-bit keyed hashes of the pseudonymous person ids, and refuses a new release when any of its
cells' sets differs from an earlier release's set by at least 1 and fewer than `min_cell` persons (|A △ B|).

* Scope: `"site"` (the default) compares with every earlier release at this site, whoever asked — two colluding
  requesters (or one with two accounts) cannot split a differencing pair between them; `"requester"` compares
  only within the same grant and requester (fewer refusals, but no protection against collusion).
* Within one release the job's own disclosure control (complementary suppression, merged bins) is in charge:
  cells of one job are not compared with each other, only with earlier releases.
* A pair of cells conflicts only when at least one of them was released unsuppressed: two "<10" cells say nothing.
* A refused or failed release records nothing; an accepted one is written in one SQLite transaction
  (`BEGIN IMMEDIATE`, so two jobs at one site cannot both pass against each other's absence).
* The hashes are a keyed 64-bit bijection (splitmix64 rounds over id ⊕ key) under the site secret
  (`SITE/ledger/site-secret.key`, mode 0600, created on first use): the ledger holds no person id in clear, and
  nothing of it ever leaves the site. The same secret keys the consistent noise of `dari.disclosure.keyed_noise`.

Cost: since |A △ B| ≥ ||A| − |B||, only earlier sets within `min_cell` − 1 of the new set's size are read; each
is first compared on its smallest 2,048 hashes (a lower bound on |A △ B| that already exceeds the floor for any
two unrelated cohorts), and in full only when that bound is small.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from dari.disclosure import (
    DisclosureRefusedError,
    DisclosureRules,
    NoiseSpec,
    ProtectedCount,
    keyed_noise,
    protect_count,
)
from dari.errors import InputError

LEDGER_DIR = "ledger"
SECRET_FILE = "site-secret.key"  # noqa: S105 - a file name, not a secret
DB_FILE = "releases.sqlite3"
HEAD = 2048  # hashes kept apart for the cheap lower bound
Scope = Literal["site", "requester"]
Hashes = npt.NDArray[np.uint64]

_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS cell_keys (hash INTEGER NOT NULL, cell_id INTEGER NOT NULL REFERENCES cells(id));
CREATE INDEX IF NOT EXISTS cell_keys_by_hash ON cell_keys (hash);
"""
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_TOP = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: Hashes) -> Hashes:
    """splitmix64's finaliser: a bijection on 64-bit words (so distinct ids never collide)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def symmetric_difference_size(a: Hashes, b: Hashes) -> int:
    """|A △ B| of two sorted arrays of distinct values."""
    if a.size > b.size:
        a, b = b, a
    if a.size == 0:
        return int(b.size)
    idx = np.minimum(np.searchsorted(b, a), b.size - 1)
    common = int(np.count_nonzero(b[idx] == a))
    return int(a.size + b.size - 2 * common)


def _head_bound(a: Hashes, a_size: int, b: Hashes, b_size: int) -> int:
    """A lower bound on |A △ B| from the smallest hashes of each set (exact when both heads are whole sets)."""
    cover = min(a[-1] if a.size < a_size else _TOP, b[-1] if b.size < b_size else _TOP)
    return symmetric_difference_size(a[a <= cover], b[b <= cover])


def _site_secret(folder: Path) -> bytes:
    """The site secret (32 random bytes, mode 0600), created on first use by a link so concurrent jobs agree."""
    path = folder / SECRET_FILE
    if not path.exists():
        tmp = folder / f".{SECRET_FILE}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another job created it first: use theirs
        finally:
            tmp.unlink()
    if path.stat().st_mode & 0o077:
        raise InputError("must be readable by its owner only (chmod 600)", file=str(path))
    data = path.read_bytes()
    if len(data) < 32:
        raise InputError("is not a site secret (shorter than 32 bytes)", file=str(path))
    return data


def _distinct(cells: list[tuple[str, Hashes, bool]]) -> list[tuple[str, Hashes, bool]]:
    """One entry per distinct set (released if any of its cells is), so a set figuring twice is checked once."""
    seen: dict[bytes, tuple[str, Hashes, bool]] = {}
    for key, m, rel in cells:
        d = hashlib.sha256(m.tobytes()).digest()
        prev = seen.get(d)
        seen[d] = (key, m, rel or (prev is not None and prev[2]))
    return list(seen.values())


class Release:
    """The cells of one release, checked against the ledger and recorded together when the release closes."""

    def __init__(self, ledger: ReleaseLedger) -> None:
        self._ledger = ledger
        self.cells: list[tuple[str, Hashes, bool]] = []

    def cell(self, key: str, person_ids: Any, *, released: bool = True) -> Hashes:
        """Record the person set behind a released figure (`released=False`: shown as suppressed)."""
        members = self._ledger.hashes(person_ids)
        self.cells.append((key, members, released))
        return members

    def count(self, key: str, person_ids: Any) -> ProtectedCount:
        """The protected count of a person set with the set's keyed noise, recorded as a cell."""
        members = self._ledger.hashes(person_ids)
        rules = self._ledger.rules
        self.cells.append((key, members, members.size >= rules.min_cell))
        return protect_count(int(members.size), rules, noise=self._ledger.noise(members))


class ReleaseLedger:
    """One site's ledger, opened for one job (its grant and requester, and the rules the site enforces)."""

    def __init__(
        self, conn: sqlite3.Connection, secret: bytes, *, grant_id: str, requester: str, rules: DisclosureRules
    ) -> None:
        self._conn, self.grant_id, self.requester, self.rules = conn, grant_id, requester, rules
        words = np.frombuffer(hmac.new(secret, b"dari-ledger-ids/1", hashlib.sha256).digest()[:16], "<u8")
        self._k1, self._k2 = np.uint64(words[0]), np.uint64(words[1])
        self._noise_key = hmac.new(secret, b"dari-noise-key/1", hashlib.sha256).digest()
        self.scope: Scope = "site"
        self.noise_spec = NoiseSpec()
        self._active: Release | None = None
        self._few_keys = False

    @classmethod
    def open(
        cls,
        folder: Path,
        *,
        grant_id: str | None,
        requester: str,
        rules: DisclosureRules,
        scope: Scope = "site",
        noise: NoiseSpec | None = None,
    ) -> ReleaseLedger:
        """Open (creating, owner-only) the ledger in `folder` (a site's `SITE/ledger/`) for one job."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = _site_secret(folder)
        path = folder / DB_FILE
        conn = sqlite3.connect(path, isolation_level=None, timeout=60.0)
        path.chmod(0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        ledger = cls(conn, secret, grant_id=grant_id or "", requester=requester, rules=rules)
        ledger.scope, ledger.noise_spec = scope, noise or NoiseSpec()
        return ledger

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    def hashes(self, person_ids: Any) -> Hashes:
        """The sorted, distinct keyed hashes of integer person ids (the form every set is stored and compared in)."""
        ids = np.asarray(person_ids).ravel()
        if ids.size and ids.dtype.kind not in "iu":
            raise InputError("person ids must be integers", column="person_id")
        x = ids.astype(np.int64).view(np.uint64)
        with np.errstate(over="ignore"):
            h = np.sort(_mix(_mix(x ^ self._k1) ^ self._k2))
        # distinct without np.unique (its hash path was 10× slower than this on 100,000 values)
        return h if h.size < 2 else h[np.concatenate(([True], h[1:] != h[:-1]))]

    def noise(self, members: Hashes) -> int:
        """The consistent keyed noise of a set (see `dari.disclosure.keyed_noise`)."""
        return keyed_noise(self._noise_key, members.astype("<u8").tobytes(), self.noise_spec)

    @contextmanager
    def release(self) -> Iterator[Release]:
        """Collect cells; on a clean exit check them all and record them in one transaction (nested: join)."""
        if self._active is not None:
            yield self._active
            return
        self._active = Release(self)
        try:
            yield self._active
            cells = self._active.cells
        finally:
            self._active = None
        self._commit(cells)

    def releases(self) -> int:
        """How many releases this ledger holds (all requesters)."""
        return int(self._conn.execute("SELECT count(*) FROM releases").fetchone()[0])

    def _scoped(self, where: str, args: list[Any], table: str = "c.") -> tuple[str, list[Any]]:
        if self.scope == "requester":
            where += f" AND {table}grant_id = ? AND {table}requester = ?"
            return where, [*args, self.grant_id, self.requester]
        return where, args

    def _conflicts(self, members: Hashes, released: bool) -> bool:
        floor = self.rules.min_cell
        digest, head = hashlib.sha256(members.tobytes()).digest(), members[:HEAD]
        # A set released before (as openly as now) adds nothing: every pair it forms was judged when it first left
        # (against earlier releases by this check, within its own release by that job's disclosure control).
        where, args = self._scoped("digest = ?", [digest], table="")
        (before,) = self._conn.execute(f"SELECT max(released) FROM cells WHERE {where}", args).fetchone()
        if before is not None and (before or not released):
            return False
        where = "c.size BETWEEN ? AND ?" + ("" if released else " AND c.released = 1")
        where, args = self._scoped(where, [members.size - floor + 1, members.size + floor - 1])
        # Two sets less than `floor` apart share an element among the `floor` smallest of each (of the floor smallest
        # of A ∪ B at most floor − 1 are in A △ B), so the indexed smallest hashes find every candidate; cells
        # indexed with fewer keys than this floor (released under a lower one) are scanned by size instead.
        smallest = [int(h) for h in members[:floor].view(np.int64)]
        marks = ",".join("?" * len(smallest)) or "NULL"
        sql = (
            "SELECT DISTINCT c.id, c.digest, c.head, c.size FROM cell_keys k JOIN cells c ON c.id = k.cell_id"
            f" WHERE k.hash IN ({marks}) AND {where}"
        )
        if self._few_keys:
            sql += f" UNION SELECT c.id, c.digest, c.head, c.size FROM cells c WHERE c.keys < ? AND {where}"
        candidates = self._conn.execute(sql, [*smallest, *args, floor, *args] if self._few_keys else [*smallest, *args])
        for cid, other_digest, other_head, size in candidates:
            if other_digest == digest:
                continue  # the same set again: the same answer, nothing new
            if _head_bound(head, members.size, np.frombuffer(other_head, "<u8"), size) >= floor:
                continue
            (blob,) = self._conn.execute("SELECT members FROM cells WHERE id = ?", (cid,)).fetchone()
            if 1 <= symmetric_difference_size(members, np.frombuffer(blob, "<u8")) < floor:
                return True
        return False

    def _insert(self, rid: int | None, key: str, m: Hashes, released: bool) -> None:
        digest, k = hashlib.sha256(m.tobytes()).digest(), self.rules.min_cell
        found = self._conn.execute(
            "SELECT id FROM cells WHERE grant_id = ? AND requester = ? AND digest = ?",
            (self.grant_id, self.requester, digest),
        ).fetchone()
        if found is not None:  # the same set again: at most it is now released where it was suppressed
            self._conn.execute("UPDATE cells SET released = max(released, ?) WHERE id = ?", (int(released), found[0]))
            return
        row = (rid, self.grant_id, self.requester, key, int(m.size), int(released), k, digest)
        cid = self._conn.execute(
            "INSERT INTO cells (release_id, grant_id, requester, cell, size, released, keys, digest, head, members)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, m[:HEAD].tobytes(), m.tobytes()),
        ).lastrowid
        self._conn.executemany(
            "INSERT INTO cell_keys (hash, cell_id) VALUES (?, ?)", [(int(h), cid) for h in m[:k].view(np.int64)]
        )

    def _commit(self, cells: list[tuple[str, Hashes, bool]]) -> None:
        floor = self.rules.min_cell
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            # cells indexed under a lower floor than this job's need the scan by size (rare: a floor raised later)
            few = self._conn.execute("SELECT 1 FROM cells WHERE keys < ? LIMIT 1", (floor,)).fetchone()
            self._few_keys = few is not None
            if floor > 1 and any(self._conflicts(m, rel) for _, m, rel in _distinct(cells)):
                raise DisclosureRefusedError(
                    f"release ledger (differencing rule): a figure's persons differ from an earlier release's "
                    f"by between 1 and {floor - 1}; nothing was released or recorded"
                )
            at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            rid = self._conn.execute(
                "INSERT INTO releases (at, grant_id, requester, cells) VALUES (?, ?, ?, ?)",
                (at, self.grant_id, self.requester, len(cells)),
            ).lastrowid
            for key, m, rel in _distinct(cells):
                self._insert(rid, key, m, rel)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise


def open_site_ledger(
    site_folder: Path, *, grant_id: str | None, requester: str, rules: DisclosureRules, scope: Scope = "site"
) -> ReleaseLedger:
    """The ledger of a site folder (`SITE/ledger/`), opened for one job."""
    return ReleaseLedger.open(
        site_folder / LEDGER_DIR, grant_id=grant_id, requester=requester, rules=rules, scope=scope
    )
