"""Bad model files and validation results: InputError naming the file, the field and the value."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from dari.econ import load_model
from dari.econ.expr import ExpressionError, parse
from dari.econ.loader import parse_model
from dari.errors import InputError

BASE: dict[str, Any] = {
    "model": {"name": "m", "horizon": 2},
    "parameters": {"p": {"value": 0.1, "kind": "probability"}, "c": {"value": 100.0, "kind": "cost"}},
    "strategies": {"s": {}},
    "markov": {
        "states": ["A", "D"],
        "initial": {"A": 1},
        "transitions": {"A": {"A": "#", "D": "p"}, "D": {"D": 1}},
        "state_costs": {"A": "c"},
    },
}


def _bad(change: Any) -> InputError:
    raw = copy.deepcopy(BASE)
    change(raw)
    with pytest.raises(InputError) as info:
        parse_model(raw, "bad.toml")
    assert info.value.file == "bad.toml"
    return info.value


def test_load_probability_outside_unit_interval_named() -> None:
    exc = _bad(lambda r: r["parameters"]["p"].update(value=1.5))
    assert exc.column == "parameters.p"
    assert "1.5" in str(exc)


def test_load_negative_cost_named() -> None:
    exc = _bad(lambda r: r["parameters"]["c"].update(value=-5))
    assert exc.column == "parameters.c" and "-5" in str(exc)


def test_load_row_not_summing_to_one_rejected() -> None:
    exc = _bad(lambda r: r["markov"]["transitions"].update(A={"A": 0.8, "D": 0.1}))
    assert "sum to 0.9" in str(exc) and "transitions.A" in (exc.column or "")


def test_load_row_within_tolerance_accepted() -> None:
    raw = copy.deepcopy(BASE)
    raw["markov"]["transitions"]["A"] = {"A": 0.9 + 5e-10, "D": 0.1}
    parse_model(raw, "ok.toml")


def test_load_transition_expression_outside_unit_interval_rejected() -> None:
    exc = _bad(lambda r: r["markov"]["transitions"]["A"].update(D="p * 20"))
    assert "2" in str(exc) and "P(A → D)" in str(exc)


def test_load_unknown_parameter_named() -> None:
    exc = _bad(lambda r: r["markov"]["state_costs"].update(A="c + c_missing"))
    assert "c_missing" in str(exc) and exc.column == "markov.state_costs.A"


def test_load_unknown_state_named() -> None:
    exc = _bad(lambda r: r["markov"]["transitions"]["A"].update(Z=0.0))
    assert "'Z'" in str(exc)


def test_load_missing_parameter_value_named() -> None:
    exc = _bad(lambda r: r["parameters"].update(q={"kind": "cost"}))
    assert exc.column == "parameters.q.value"


def test_load_bad_toml_and_nothing_else(tmp_path: Path) -> None:
    f = tmp_path / "m.toml"
    f.write_text("[model\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        load_model(f)


def test_expression_rejects_calls_attributes_and_unknown_functions() -> None:
    for text in ("__import__('os')", "p.real", "open(1)", "p if p else 1", "[1]", "'a'"):
        with pytest.raises(ExpressionError):
            parse(text)
    assert parse("max(a, 2) * exp(0) + b ** 2").names == {"a", "b"}
