"""The release ledger against a brute-force reference: the indexed search refuses exactly what all pairs refuse."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from dari.disclosure import DisclosureRefusedError, DisclosureRules, keyed_noise
from dari.federation import ledger_segments, ledger_store
from dari.federation.ledger import ReleaseLedger
from dari.federation.ledger_store import head_bound, symmetric_difference_size


def _reference_refuses(history: list[tuple[set[int], bool]], new: list[tuple[set[int], bool]], floor: int) -> bool:
    """All pairs (new set, set on record): refused when 1 ≤ |A △ B| < floor and one of them was released; a set on
    record as openly as now is skipped."""
    for a, rel in new:
        if any(b == a and (brel or not rel) for b, brel in history):
            continue
        if any(1 <= len(a ^ b) < floor and (rel or brel) for b, brel in history):
            return True
    return False


@pytest.mark.parametrize("seed", range(6))
def test_ledger_matches_brute_force(tmp_path: Path, seed: int) -> None:
    # Prepare: releases of random sets, many of them a few persons away from earlier ones; floors 5 and then 10
    rng = np.random.default_rng(seed)
    history: list[tuple[set[int], bool]] = []
    pool = rng.choice(10_000, 3_000, replace=False)
    refused = accepted = 0
    for step in range(60):
        floor = 5 if step < 30 else 10  # a raised floor exercises the scan of cells indexed with fewer keys
        ledger = ReleaseLedger.open(tmp_path, grant_id="g", requester="r", rules=DisclosureRules(min_cell=floor))
        cells = []
        for _ in range(int(rng.integers(1, 4))):
            if history and rng.random() < 0.6:
                base = sorted(history[int(rng.integers(len(history)))][0])
                drop = int(rng.integers(0, 12))
                s = set(base[drop:]) | set(rng.choice(pool, int(rng.integers(0, 3))).tolist())
            else:
                s = set(rng.choice(pool, int(rng.integers(1, 3000)), replace=False).tolist())
            cells.append((s, len(s) >= floor))
        expected = _reference_refuses(history, cells, floor)
        ids = {k: np.asarray(sorted(s), dtype=np.int64) for k, (s, _) in enumerate(cells)}
        # Execute
        try:
            with ledger.release() as release:
                for k, (_, rel) in enumerate(cells):
                    release.cell(f"c{k}", ids[k], released=rel)
            got = False
        except DisclosureRefusedError:
            got = True
        ledger.close()
        # Assert
        assert got == expected, f"step {step}"
        if got:
            refused += 1
        else:
            accepted += 1
            history.extend(cells)
    assert refused and accepted  # both outcomes were exercised


@pytest.mark.parametrize(("seed", "fan_in"), [(0, 2), (1, 3), (2, 1_000)])
def test_ledger_matches_brute_force_across_segment_layouts(
    tmp_path: Path, seed: int, fan_in: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: eager merging (few segments, merged every other release) or none (one key segment per release)
    monkeypatch.setattr(ledger_segments, "FAN_IN", fan_in)
    # Execute / Assert: the same refusals as all pairs, whatever the segments' layout
    test_ledger_matches_brute_force(tmp_path, seed + 100)


def test_ledger_scope_requester_compares_within_grant_and_requester(tmp_path: Path) -> None:
    rules = DisclosureRules()
    a = ReleaseLedger.open(tmp_path, grant_id="g1", requester="alice", rules=rules, scope="requester")
    with a.release() as r:
        r.count("n", np.arange(50))
    b = ReleaseLedger.open(tmp_path, grant_id="g2", requester="bob", rules=rules, scope="requester")
    with b.release() as r:
        r.count("n", np.arange(49))  # a pair across requesters: not compared in this scope
    with pytest.raises(DisclosureRefusedError), a.release() as r:
        r.count("n", np.arange(48))  # alice's own earlier release is compared


def test_set_distances_against_python_sets() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        a = np.unique(rng.integers(0, 5000, int(rng.integers(0, 3000))).astype(np.uint64))
        b = np.unique(rng.integers(0, 5000, int(rng.integers(0, 3000))).astype(np.uint64))
        exact = len(set(a.tolist()) ^ set(b.tolist()))
        assert symmetric_difference_size(a, b) == exact
        assert head_bound(a[:100], a.size, b[:100], b.size) <= exact


def test_keyed_noise_is_consistent_bounded_and_keyed() -> None:
    sets = [np.arange(n, dtype=np.uint64).tobytes() for n in range(1, 400)]
    first = [keyed_noise(b"k" * 32, s) for s in sets]
    assert first == [keyed_noise(b"k" * 32, s) for s in sets]
    assert max(map(abs, first)) <= 6 and 1.5 < float(np.std(first)) < 4.0
    assert first != [keyed_noise(b"j" * 32, s) for s in sets]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(("keys-", "members-")))


def test_refused_release_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_segments, "FAN_IN", 2)
    # Prepare: seven releases, their keys in three segments (4 + 2 + 1 releases' merged keys with FAN_IN 2)
    ledger = ReleaseLedger.open(tmp_path, grant_id="g", requester="r", rules=DisclosureRules())
    for start in range(0, 700, 100):
        with ledger.release() as r:
            r.cell("cohort", np.arange(start, start + 60))
            r.cell("bin", np.arange(start + 60, start + 75))

    def counts() -> list[int]:
        tables = ("releases", "cells", "segments", "member_files")
        return [ledger._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables]

    before, files = counts(), _files(tmp_path)
    assert before[2] > 1  # more than one segment on record
    # Execute: an attacker's bin one person short of an early one
    with pytest.raises(DisclosureRefusedError), ledger.release() as r:
        r.cell("fresh", np.arange(5_000, 5_100))
        r.cell("bin", np.arange(61, 75))
    # Assert: refused, and neither the refused pair nor the fresh set is on record, in SQLite or in files
    assert counts() == before
    assert _files(tmp_path) == files
    ledger.close()


def test_files_of_a_release_that_never_committed_are_ignored_and_collected(tmp_path: Path) -> None:
    # Prepare: a release on record, then files as a power cut between a release's fsync and its commit leaves them
    ledger = ReleaseLedger.open(tmp_path, grant_id="g", requester="r", rules=DisclosureRules())
    with ledger.release() as r:
        r.cell("cohort", np.arange(100))
    keyed = ledger.hashes(np.arange(101))
    orphan_keys = ledger_segments.write_keys(
        tmp_path, keyed[:20], np.full(20, 101, np.uint64), np.full(20, 999, np.uint64)
    )
    orphan_members, _ = ledger_segments.write_members(tmp_path, [keyed])
    # Execute: a set one person away from the orphan (which was never released) and far from the real one
    with ledger.release() as r:
        r.cell("other", np.arange(1_000, 1_101))
    # Assert: the orphan neither refused anything nor survived the next release's garbage collection
    assert orphan_keys not in _files(tmp_path) and orphan_members not in _files(tmp_path)
    with pytest.raises(DisclosureRefusedError), ledger.release() as r:
        r.cell("cohort", np.arange(99))  # the committed release still refuses its differencing pair
    ledger.close()


_OLD_SCHEMA = """
CREATE TABLE releases (
  id INTEGER PRIMARY KEY, at TEXT NOT NULL, grant_id TEXT NOT NULL, requester TEXT NOT NULL, cells INTEGER NOT NULL);
CREATE TABLE cells (
  id INTEGER PRIMARY KEY, release_id INTEGER NOT NULL REFERENCES releases(id), grant_id TEXT NOT NULL,
  requester TEXT NOT NULL, cell TEXT NOT NULL, size INTEGER NOT NULL, released INTEGER NOT NULL,
  keys INTEGER NOT NULL, digest BLOB NOT NULL, head BLOB NOT NULL, members BLOB NOT NULL,
  UNIQUE (grant_id, requester, digest));
CREATE TABLE cell_keys (
  hash INTEGER NOT NULL, size INTEGER NOT NULL, cell_id INTEGER NOT NULL REFERENCES cells(id),
  PRIMARY KEY (hash, size, cell_id)) WITHOUT ROWID;
CREATE TABLE recent_keys (
  hash INTEGER NOT NULL, size INTEGER NOT NULL, cell_id INTEGER NOT NULL REFERENCES cells(id),
  PRIMARY KEY (hash, size, cell_id)) WITHOUT ROWID;
"""


def test_ledger_of_the_earlier_sqlite_layout_is_migrated_on_open(tmp_path: Path) -> None:
    # Prepare: a ledger written in the earlier layout (sets as blobs, keys in both SQLite key trees)
    probe = ReleaseLedger.open(tmp_path / "probe", grant_id="g", requester="r", rules=DisclosureRules())
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "site-secret.key").write_bytes((tmp_path / "probe" / "site-secret.key").read_bytes())
    (tmp_path / "site" / "site-secret.key").chmod(0o600)
    conn = sqlite3.connect(tmp_path / "site" / "releases.sqlite3")
    conn.executescript(_OLD_SCHEMA)
    big, small = probe.hashes(np.arange(3_000)), probe.hashes(np.arange(5_000, 5_050))
    for cid, (m, table) in enumerate([(big, "cell_keys"), (small, "recent_keys")], start=1):
        conn.execute("INSERT INTO releases VALUES (?, 'then', 'g', 'r', 1)", (cid,))
        rest = m.tobytes() if m.size > ledger_store.HEAD else b""
        conn.execute(
            "INSERT INTO cells VALUES (?, ?, 'g', 'r', 'c', ?, 1, 20, ?, ?, ?)",
            (cid, cid, m.size, ledger_store.digest(m), m[: ledger_store.HEAD].tobytes(), rest),
        )
        keys = [(h, m.size, cid) for h in m[:20].view(np.int64).tolist()]
        conn.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)", keys)
    conn.commit()
    conn.close()
    probe.close()
    # Execute: open it with the current code
    ledger = ReleaseLedger.open(tmp_path / "site", grant_id="g", requester="r", rules=DisclosureRules())
    # Assert: the key trees became a segment, and both old sets still refuse their differencing pairs
    tables = {r[0] for r in ledger._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "cell_keys" not in tables and "recent_keys" not in tables
    assert ledger._conn.execute("SELECT sum(keys) FROM segments").fetchone()[0] == 40
    with pytest.raises(DisclosureRefusedError), ledger.release() as r:
        r.cell("c", np.arange(2_997))
    with pytest.raises(DisclosureRefusedError), ledger.release() as r:
        r.cell("c", np.arange(5_000, 5_048))
    with ledger.release() as r:  # far from both: accepted, and on record in the new layout beside the old
        r.cell("c", np.arange(10_000, 10_100))
    assert ledger.releases() == 3
    ledger.close()
    again = ReleaseLedger.open(tmp_path / "site", grant_id="g", requester="r", rules=DisclosureRules())
    with pytest.raises(DisclosureRefusedError), again.release() as r:
        r.cell("c", np.arange(10_000, 10_099))
    again.close()
