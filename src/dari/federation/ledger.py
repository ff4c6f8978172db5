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
* A refused or failed release records nothing; an accepted one writes and fsyncs its files, then commits one
  SQLite transaction naming them (`BEGIN IMMEDIATE`, so two jobs at one site cannot both pass against each
  other's absence); files no committed row names are ignored and deleted by a later release.
* The hashes are a keyed 64-bit bijection (splitmix64 rounds over id ⊕ key) under the site secret
  (`SITE/ledger/site-secret.key`, mode 0600, created on first use): the ledger holds no person id in clear, and
  nothing of it ever leaves the site. The same secret keys the consistent noise of `dari.disclosure.keyed_noise`.

Cost: only earlier sets within `min_cell` − 1 of the new set's size that share enough of their smallest hashes
are candidates, found for a whole release by binary searches (numpy) in the sorted, fsynced key segments beside
the SQLite file (`dari.federation.ledger_store`, `dari.federation.ledger_segments`).
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

from dari.disclosure import (
    DisclosureRefusedError,
    DisclosureRules,
    NoiseSpec,
    ProtectedCount,
    keyed_noise,
    protect_count,
)
from dari.errors import InputError
from dari.federation.ledger_segments import Hashes
from dari.federation.ledger_store import SCHEMA, Cell, LedgerStore, migrate

LEDGER_DIR = "ledger"
SECRET_FILE = "site-secret.key"  # noqa: S105 - a file name, not a secret
DB_FILE = "releases.sqlite3"
Scope = Literal["site", "requester"]

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: Hashes) -> Hashes:
    """splitmix64's finaliser: a bijection on 64-bit words (so distinct ids never collide)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


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


def _distinct(cells: list[Cell], store: LedgerStore) -> list[Cell]:
    """One entry per distinct set (released if any of its cells is), so a set figuring twice is checked once."""
    seen: dict[bytes, Cell] = {}
    for key, m, rel in cells:
        d = store.digest(m)
        prev = seen.get(d)
        seen[d] = (key, m, rel or (prev is not None and prev[2]))
    return list(seen.values())


class Release:
    """The cells of one release, checked against the ledger and recorded together when the release closes."""

    def __init__(self, ledger: ReleaseLedger) -> None:
        self._ledger = ledger
        self.cells: list[Cell] = []

    def cell(self, key: str, person_ids: Any, *, released: bool = True) -> Hashes:
        """Record the person set behind a released figure (`released=False`: shown as suppressed).

        A set of fewer than `min_cell` persons is on record as suppressed whatever `released` says: disclosure
        control never lets a figure of so few out, and the candidate search relies on it.
        """
        members = self._ledger.hashes(person_ids)
        self.cells.append((key, members, released and members.size >= self._ledger.rules.min_cell))
        return members

    def keyed(self, person_ids: Any) -> Hashes:
        """The keyed hashes of integer person ids in row order (neither sorted nor deduplicated), for `cell_of`."""
        return self._ledger.keyed(person_ids)

    def cell_of(self, key: str, keyed: Hashes, *, released: bool = True) -> None:
        """Record a set given by the keyed hashes of distinct persons (from `keyed`): hashed once for many cells."""
        members = np.sort(keyed)
        self.cells.append((key, members, released and members.size >= self._ledger.rules.min_cell))

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
        self.folder = Path()
        words = np.frombuffer(hmac.new(secret, b"dari-ledger-ids/1", hashlib.sha256).digest()[:16], "<u8")
        self._k1, self._k2 = np.uint64(words[0]), np.uint64(words[1])
        self._noise_key = hmac.new(secret, b"dari-noise-key/1", hashlib.sha256).digest()
        self.scope: Scope = "site"
        self.noise_spec = NoiseSpec()
        self._active: Release | None = None

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
        conn.execute("PRAGMA wal_autocheckpoint=16384")  # checkpoint every ~64 MB of releases, not every job
        conn.executescript(SCHEMA)
        migrate(conn, folder)
        ledger = cls(conn, secret, grant_id=grant_id or "", requester=requester, rules=rules)
        ledger.folder = folder
        ledger.scope, ledger.noise_spec = scope, noise or NoiseSpec()
        return ledger

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    def hashes(self, person_ids: Any) -> Hashes:
        """The sorted, distinct keyed hashes of integer person ids (the form every set is stored and compared in)."""
        h = np.sort(self.keyed(person_ids))
        # distinct without np.unique (its hash path was 10× slower than this on 100,000 values)
        return h if h.size < 2 else h[np.concatenate(([True], h[1:] != h[:-1]))]

    def keyed(self, person_ids: Any) -> Hashes:
        """The keyed hashes of integer person ids, in their order (a bijection: distinct ids, distinct hashes)."""
        ids = np.asarray(person_ids).ravel()
        if ids.size and ids.dtype.kind not in "iu":
            raise InputError("person ids must be integers", column="person_id")
        x = ids.astype(np.int64).view(np.uint64)
        with np.errstate(over="ignore"):
            return _mix(_mix(x ^ self._k1) ^ self._k2)

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

    def _commit(self, cells: list[Cell]) -> None:
        floor = self.rules.min_cell
        store = LedgerStore(self._conn, self.folder, self.grant_id, self.requester, self.scope == "site")
        distinct = _distinct(cells, store)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if floor > 1 and store.conflicts(distinct, floor):
                raise DisclosureRefusedError(
                    f"release ledger (differencing rule): a figure's persons differ from an earlier release's "
                    f"by between 1 and {floor - 1}; nothing was released or recorded"
                )
            at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            rid = self._conn.execute(
                "INSERT INTO releases (at, grant_id, requester, cells) VALUES (?, ?, ?, ?)",
                (at, self.grant_id, self.requester, len(cells)),
            ).lastrowid
            store.record(rid, distinct, floor)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            for name in store.written:  # never named by a committed row
                (self.folder / name).unlink(missing_ok=True)
            raise
        for name in store.obsolete:  # merged into a segment the commit named
            (self.folder / name).unlink(missing_ok=True)


def open_site_ledger(
    site_folder: Path, *, grant_id: str | None, requester: str, rules: DisclosureRules, scope: Scope = "site"
) -> ReleaseLedger:
    """The ledger of a site folder (`SITE/ledger/`), opened for one job (never creating a missing site folder)."""
    if not site_folder.is_dir():
        raise InputError("site folder not found", file=str(site_folder))
    return ReleaseLedger.open(
        site_folder / LEDGER_DIR, grant_id=grant_id, requester=requester, rules=rules, scope=scope
    )
