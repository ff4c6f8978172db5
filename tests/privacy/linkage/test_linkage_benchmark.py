"""Synthetic two-hospital benchmark: error injection, evaluation maths and the accuracy targets."""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pytest

from dari.privacy.linkage import (
    encode_clks,
    evaluate,
    link_combined,
    link_exact,
    link_fuzzy,
    linkage_tokens,
    make_linkage_benchmark,
)
from dari.privacy.linkage.evaluate import jamo_typo

KEY = bytes(range(32))


def test_evaluate_hand_worked() -> None:
    pairs = pa.table({"a": [0, 1, 2, 3], "b": [0, 2, 3, 5]})
    truth = pa.table({"a": [0, 1, 2], "b": [0, 1, 3]})
    p, r, f1 = evaluate(pairs, truth)
    assert (p, r) == (2 / 4, 2 / 3)
    assert f1 == pytest.approx(2 * p * r / (p + r))


def test_jamo_typo_changes_exactly_one_jamo() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        before = unicodedata.normalize("NFD", "이서연")
        after = unicodedata.normalize("NFD", jamo_typo("이서연", rng))
        if len(before) == len(after):
            assert sum(x != y for x, y in zip(before, after, strict=True)) == 1
        else:  # a final consonant added or removed
            assert abs(len(before) - len(after)) == 1


def test_make_linkage_benchmark_truth_is_consistent() -> None:
    bm = make_linkage_benchmark(400, 0.5, seed=3)
    assert bm.a.num_rows == bm.b.num_rows == 400
    assert bm.truth.num_rows == 200
    a_sex = np.array(bm.a.column("sex").to_pylist())[bm.truth.column("a").to_numpy()]
    b_sex = np.array(bm.b.column("sex").to_pylist())[bm.truth.column("b").to_numpy()]
    assert (a_sex == b_sex).all()  # sex is never corrupted, so a mismatch means a wrong truth row
    assert len(set(bm.truth.column("b").to_pylist())) == 200


def test_linkage_benchmark_n2000_meets_targets() -> None:
    bm = make_linkage_benchmark(2000, 0.5, seed=11)
    ta, tb = linkage_tokens(bm.a, KEY), linkage_tokens(bm.b, KEY)
    exact = evaluate(link_exact(ta, tb), bm.truth)
    combined = evaluate(link_combined(ta, tb), bm.truth)
    fuzzy = evaluate(link_fuzzy(encode_clks(bm.a, KEY), encode_clks(bm.b, KEY)), bm.truth)
    assert exact.precision == 1.0
    assert exact.recall < combined.recall  # the errors are real: exact tokens alone miss people
    assert combined.recall >= 0.95
    assert combined.precision >= 0.97
    assert fuzzy.recall >= 0.9
