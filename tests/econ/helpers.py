"""Small model builders for the econ tests."""

from __future__ import annotations

from typing import Any

from dari.econ.loader import parse_model
from dari.econ.spec import ModelSpec


def two_state(counting: str = "end", horizon: int = 2, **model: Any) -> ModelSpec:
    """Alive → Dead with P = 0.1 a year, cost 100 and utility 1 while alive, no discounting unless given."""
    raw: dict[str, Any] = {
        "model": {
            "name": "two-state",
            "horizon": horizon,
            "counting": counting,
            "discount_costs": 0.0,
            "discount_effects": 0.0,
            **model,
        },
        "parameters": {"p": {"value": 0.1, "kind": "probability"}, "c": {"value": 100.0, "kind": "cost"}},
        "strategies": {"only": {}},
        "markov": {
            "states": ["Alive", "Dead"],
            "dead": ["Dead"],
            "initial": {"Alive": 1},
            "transitions": {"Alive": {"Alive": "#", "Dead": "p"}, "Dead": {"Dead": 1}},
            "state_costs": {"Alive": "c"},
            "utilities": {"Alive": 1},
        },
    }
    return parse_model(raw, "two-state.toml")
