"""Markov engine, counting conventions and the decision tree against hand calculation."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import two_state

from dari.econ import evaluate
from dari.econ.loader import parse_model
from dari.econ.markov import counting_weights
from dari.econ.params import base_values

# Alive shares at points 0, 1, 2: 1, 0.9, 0.81.
HAND = {
    "beginning": 1 + 0.9,
    "end": 0.9 + 0.81,
    "half-cycle": 0.5 + 0.9 + 0.5 * 0.81,
    "simpson": (1 + 4 * 0.9 + 0.81) / 3,
}


@pytest.mark.parametrize("convention", sorted(HAND))
def test_counting_convention_matches_hand_calculation(convention: str) -> None:
    spec = two_state(convention)
    r = evaluate(spec, base_values(spec))["only"]
    assert float(r.ly[0]) == pytest.approx(HAND[convention])
    assert float(r.cost[0]) == pytest.approx(100 * HAND[convention])


def test_discounting_end_of_cycle_matches_hand_calculation() -> None:
    spec = two_state("end", discount_costs=0.05, discount_effects=0.03)
    r = evaluate(spec, base_values(spec))["only"]
    assert float(r.cost[0]) == pytest.approx(100 * (0.9 / 1.05 + 0.81 / 1.05**2))
    assert float(r.qaly[0]) == pytest.approx(0.9 / 1.03 + 0.81 / 1.03**2)
    assert float(r.ly_undiscounted[0]) == pytest.approx(1.71)


def test_simpson_weights_odd_cycles_rejected() -> None:
    with pytest.raises(ValueError, match="even"):
        counting_weights("simpson", 3)


def test_cycle_table_applies_per_cycle() -> None:
    raw = {
        "model": {"name": "t", "horizon": 3, "counting": "end", "discount_costs": 0, "discount_effects": 0},
        "tables": {"pt": [0.5, 0.0]},
        "strategies": {"s": {}},
        "markov": {
            "states": ["A", "D"],
            "dead": ["D"],
            "initial": {"A": 1},
            "transitions": {"A": {"A": "#", "D": "pt"}, "D": {"D": 1}},
            "utilities": {"A": 1},
        },
    }
    spec = parse_model(raw, "t.toml")
    r = evaluate(spec, base_values(spec), keep_trace=True)["s"]
    assert r.trace is not None
    assert r.trace[:, 0, 0] == pytest.approx([1, 0.5, 0.5, 0.5])  # death only in cycle 1, the last row repeats


def test_tree_only_expected_cost_and_qaly() -> None:
    raw = {
        "model": {"name": "tree", "horizon": 1},
        "parameters": {"prev": {"value": 0.2, "kind": "probability"}},
        "strategies": {"test": {"sensitivity": 0.9, "specificity": 0.8, "one_off_cost": 10}},
        "tree": {
            "prevalence": "prev",
            "branches": {
                "TP": {"cost": 100, "qaly_loss": 0.0},
                "FP": {"cost": 100, "qaly_loss": 0.01},
                "FN": {"cost": 0, "qaly_loss": 0.5},
                "TN": {},
            },
        },
    }
    spec = parse_model(raw, "tree.toml")
    r = evaluate(spec, base_values(spec))["test"]
    tp, fn, fp = 0.2 * 0.9, 0.2 * 0.1, 0.8 * 0.2
    assert float(r.cost[0]) == pytest.approx(10 + 100 * (tp + fp))
    assert float(r.qaly[0]) == pytest.approx(-(0.01 * fp + 0.5 * fn))
    assert float(r.branches["TN"][0]) == pytest.approx(0.8 * 0.8)


def test_tree_feeds_markov_starting_distribution() -> None:
    raw = {
        "model": {"name": "tm", "horizon": 1, "counting": "beginning", "discount_costs": 0, "discount_effects": 0},
        "strategies": {"s": {"sensitivity": 1.0, "specificity": 1.0}},
        "tree": {
            "prevalence": 0.3,
            "branches": {
                "TP": {"start": {"Sick": 1}},
                "FN": {"start": {"Sick": 1}},
                "FP": {"start": {"Well": 1}},
                "TN": {"start": {"Well": 1}},
            },
        },
        "markov": {
            "states": ["Well", "Sick"],
            "transitions": {"Well": {"Well": 1}, "Sick": {"Sick": 1}},
            "utilities": {"Well": 1, "Sick": 0.5},
        },
    }
    spec = parse_model(raw, "tm.toml")
    r = evaluate(spec, base_values(spec))["s"]
    assert float(r.qaly[0]) == pytest.approx(0.7 + 0.3 * 0.5)


def test_vectorised_evaluation_equals_columnwise() -> None:
    spec = two_state("half-cycle", horizon=4)
    vals = {"p": np.array([0.1, 0.2, 0.3]), "c": np.array([100.0, 50.0, 10.0])}
    together = evaluate(spec, vals)["only"].cost
    apart = [evaluate(spec, {k: v[i : i + 1] for k, v in vals.items()})["only"].cost[0] for i in range(3)]
    assert together == pytest.approx(apart)
