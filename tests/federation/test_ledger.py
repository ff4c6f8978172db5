"""The release ledger against a brute-force reference: the indexed search refuses exactly what all pairs refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dari.disclosure import DisclosureRefusedError, DisclosureRules, keyed_noise
from dari.federation import ledger_store
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


@pytest.mark.parametrize("seed", range(3))
def test_ledger_matches_brute_force_across_key_compactions(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a tiny recent-keys tree, so releases' keys move to the big tree every few releases
    monkeypatch.setattr(ledger_store, "RECENT_MAX", 300)
    # Execute / Assert: the same refusals as all pairs, with the keys split between the two trees at every step
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


def test_refused_release_records_nothing_in_either_key_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: enough releases that keys sit in both trees (the big one after a move, the small one after)
    monkeypatch.setattr(ledger_store, "RECENT_MAX", 200)
    ledger = ReleaseLedger.open(tmp_path, grant_id="g", requester="r", rules=DisclosureRules())
    for start in range(0, 800, 100):
        with ledger.release() as r:
            r.cell("cohort", np.arange(start, start + 60))
            r.cell("bin", np.arange(start + 60, start + 75))

    def counts() -> list[int]:
        tables = ("releases", "cells", "cell_keys", "recent_keys")
        return [ledger._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables]

    before = counts()
    assert before[2] and before[3]  # both trees hold keys
    # Execute: an attacker's bin one person short of an early one (its keys moved to the big tree)
    with pytest.raises(DisclosureRefusedError), ledger.release() as r:
        r.cell("fresh", np.arange(5_000, 5_100))
        r.cell("bin", np.arange(61, 75))
    # Assert: refused, and neither the refused pair nor the fresh set is on record
    assert counts() == before
    ledger.close()
