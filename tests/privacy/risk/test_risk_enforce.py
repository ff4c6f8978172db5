"""k-enforcement: reaches k within the suppression limit and picks the minimal-loss node (checked by brute force)."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dari.privacy.risk import Hierarchy, age_bands, assess, enforce_k, korean_address, postcode_prefix, suppress_only

ADDRESSES = [
    "서울특별시 강남구 테헤란로 1",
    "서울특별시 강남구 역삼로 2",
    "서울특별시 중구 세종대로 3",
    "부산광역시 중구 중앙대로 4",
]


def _table(seed: int, n: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "age": rng.integers(20, 60, n),
            "sex": rng.choice(["M", "F"], n),
            "postcode": [f"{x:05d}" for x in rng.choice([6236, 6237, 6290, 4524, 48058], n)],
            "address": rng.choice(ADDRESSES, n),
            "dx": rng.choice(["I10", "E11", "J45"], n),
        }
    )


HIERARCHIES: dict[str, Hierarchy] = {
    "age": age_bands((5, 10)),
    "sex": suppress_only(),
    "postcode": postcode_prefix((3, 2)),
    "address": korean_address(),
}


def _brute_force(table: pa.Table, k: int, max_suppression: float) -> dict[tuple[int, ...], tuple[int, float, int]]:
    """Every lattice node → (suppressed, precision loss, DM), generalising row by row."""
    rows: list[dict[str, Any]] = table.to_pylist()
    qis = list(HIERARCHIES)
    n = len(rows)
    out = {}
    for node in itertools.product(*(range(h.height + 1) for h in HIERARCHIES.values())):
        keys = [
            tuple(
                HIERARCHIES[q].generalise([None if r[q] is None else str(r[q])])[0][lvl]
                for q, lvl in zip(qis, node, strict=True)
            )
            for r in rows
        ]
        sizes = Counter(keys)
        suppressed = sum(c for c in sizes.values() if c < k)
        mean_level = sum(lvl / HIERARCHIES[q].height for q, lvl in zip(qis, node, strict=True)) / len(qis)
        precision = (mean_level * (n - suppressed) + suppressed) / n
        dm = sum(c * c for c in sizes.values() if c >= k) + suppressed * n
        if suppressed <= math.floor(max_suppression * n):
            out[node] = (suppressed, precision, dm)
    return out


def test_enforce_k_reaches_k_within_suppression_limit() -> None:
    # Prepare
    table = _table(1, 500)
    # Execute
    result = enforce_k(table, HIERARCHIES, k=5, max_suppression=0.05, sensitive="dx")
    # Assert
    assert result.after.k >= 5
    assert result.suppressed <= 0.05 * 500
    assert result.table.num_rows == 500 - result.suppressed
    assert result.before.k < 5
    assert assess(result.table, list(HIERARCHIES)).k >= 5


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 6), limit=st.sampled_from([0.0, 0.02, 0.1]))
def test_enforce_k_picks_minimal_precision_loss_node(seed: int, k: int, limit: float) -> None:
    # Prepare
    table = _table(seed, 60)
    feasible = _brute_force(table, k, limit)
    # Execute
    result = enforce_k(table, HIERARCHIES, k=k, max_suppression=limit)
    # Assert
    best = min(loss for _, loss, _ in feasible.values())
    node = tuple(result.levels[q] for q in HIERARCHIES)
    assert node in feasible
    assert result.loss.precision == pytest.approx(best)
    assert feasible[node][0] == result.suppressed


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 6))
def test_enforce_k_picks_minimal_discernibility_node(seed: int, k: int) -> None:
    # Prepare
    table = _table(seed, 60)
    feasible = _brute_force(table, k, 0.05)
    # Execute
    result = enforce_k(table, HIERARCHIES, k=k, max_suppression=0.05, metric="discernibility")
    # Assert
    assert result.loss.discernibility == min(dm for _, _, dm in feasible.values())


def test_enforce_k_hand_worked_prefers_suppression_to_generalising() -> None:
    # Prepare: 19 records share (30, M); one (31, F) outlier; k=2 with 5% (1 record) allowed
    table = pa.table({"age": [30] * 19 + [31], "sex": ["M"] * 19 + ["F"]})
    hierarchies = {"age": age_bands((5, 10)), "sex": suppress_only()}
    # Execute
    result = enforce_k(table, hierarchies, k=2, max_suppression=0.05)
    # Assert: suppressing the outlier (loss 1/20) beats any generalisation (≥ 1/6)
    assert result.levels == {"age": 0, "sex": 0}
    assert result.suppressed == 1
    assert result.loss.precision == pytest.approx(0.05)
    assert result.loss.discernibility == 19 * 19 + 20


def test_enforce_k_without_suppression_generalises() -> None:
    # Prepare: same table, no suppression: the lone F needs sex → *, and then 31 still differs from 30
    table = pa.table({"age": [30] * 19 + [31], "sex": ["M"] * 19 + ["F"]})
    hierarchies = {"age": age_bands((5, 10)), "sex": suppress_only()}
    # Execute
    result = enforce_k(table, hierarchies, k=2, max_suppression=0.0)
    # Assert: (age exact, sex *) leaves 31 alone; the cheapest fix is the 30-34 band: loss (1/3 + 1)/2
    assert result.levels == {"age": 1, "sex": 1}
    assert result.loss.precision == pytest.approx(2 / 3)
    assert result.suppressed == 0
    assert set(result.table.column("sex").to_pylist()) == {"*"}
