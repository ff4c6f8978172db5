"""The model language: reserved words, look-up tables, conditionals, time, transition costs, checks on inputs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from helpers import two_state

from dari.econ import evaluate
from dari.econ.loader import parse_model
from dari.econ.params import base_values
from dari.errors import InputError


def _raw() -> dict[str, Any]:
    spec = two_state(horizon=3)
    return copy.deepcopy(spec.model_dump(exclude={"file"}, exclude_defaults=True))


def _run(raw: dict[str, Any], file: str = "m.toml") -> Any:
    spec = parse_model(raw, file)
    return evaluate(spec, base_values(spec), keep_trace=True)["only"]


def test_reserved_word_refused_with_a_clear_message() -> None:
    raw = _raw()
    raw["parameters"]["lambda"] = {"value": 0.5}
    with pytest.raises(InputError, match="'lambda' is a reserved word") as info:
        parse_model(raw, "m.toml")
    assert info.value.column == "parameters.lambda"
    raw = _raw()
    raw["parameters"]["model_time"] = {"value": 1}
    with pytest.raises(InputError, match="reserved"):
        parse_model(raw, "m.toml")


def test_lookup_from_csv_with_age_bands_and_time(tmp_path: Path) -> None:
    (tmp_path / "life.csv").write_text("age,sex,value\n60,0,0.1\n60,1,0.2\n62,0,0.3\n62,1,0.4\n", encoding="utf-8")
    raw = _raw()
    raw["model"]["start_age"] = 60
    raw["lookups"] = {"life": {"file": "life.csv", "keys": ["age", "sex"], "bin": ["age"], "source": "test"}}
    raw["parameters"]["sex"] = {"value": 1}
    raw["parameters"]["p"] = {"value": "life(age, sex)"}
    res = _run(raw, str(tmp_path / "m.toml"))
    alive = res.trace[:, 0, 0]
    # age 61 (band 60) → 0.2, then 62 and 63 (band 62) → 0.4
    assert alive.tolist() == pytest.approx([1.0, 0.8, 0.8 * 0.6, 0.8 * 0.6 * 0.6])
    raw["model"]["start_age"] = 58  # age 59 lies below the table
    with pytest.raises(InputError, match="age = 59 is below the table"):
        parse_model(raw, str(tmp_path / "m.toml"))
    (tmp_path / "life.csv").write_text("age,sex,value\n60,0,0.1\n60,1,0.2\n62,0,0.3\n", encoding="utf-8")
    raw["model"]["start_age"] = 60
    with pytest.raises(InputError, match="no row for"):
        parse_model(raw, str(tmp_path / "m.toml"))


def test_conditional_on_model_time_and_transition_cost() -> None:
    raw = _raw()
    raw["parameters"]["p"] = {"value": "ifelse(model_time <= 1, 0.5, 0.0)"}  # deaths only in cycle 1
    raw["markov"]["entry_costs"] = {"Dead": 1000}  # e.g. end-of-life care, paid once on entering
    raw["markov"]["state_costs"] = {}
    res = _run(raw)
    assert res.trace[:, 0, 0].tolist() == pytest.approx([1.0, 0.5, 0.5, 0.5])
    assert float(res.cost_undiscounted[0]) == pytest.approx(500.0)
    assert res.cycle_costs[:, 0].tolist() == pytest.approx([500.0, 0.0, 0.0])


def test_checks_apply_to_inputs_not_products() -> None:
    raw = _raw()
    raw["parameters"]["u"] = {"value": 0.9, "kind": "utility"}
    raw["markov"]["utilities"] = {"Alive": "u * 1.5"}  # a scaled value above 1 is the modeller's business
    assert float(_run(raw).qaly_undiscounted[0]) > 0
    raw["parameters"]["u"] = {"value": 1.2, "kind": "utility"}
    with pytest.raises(InputError, match=r"utility u = 1\.2"):
        parse_model(raw, "m.toml")


def test_counting_weights_by_user_and_their_length() -> None:
    raw = _raw()
    raw["model"]["counting_weights"] = [1, 0, 0, 0]  # only the start counts
    assert float(_run(raw).cost_undiscounted[0]) == pytest.approx(100.0)
    raw["model"]["counting_weights"] = [1, 1]
    with pytest.raises(InputError, match="horizon \\+ 1 = 4"):
        parse_model(raw, "m.toml")


def test_negative_qaly_loss_refused_in_the_diagnostic_tree() -> None:
    import tomllib
    from importlib import resources

    path = Path(str(resources.files("dari.econ") / "examples" / "ckd_ai_screening.toml"))
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    raw["tree"]["branches"]["FP"]["qaly_loss"] = "-fp_loss"  # would silently add QALYs
    with pytest.raises(InputError, match="QALY loss") as info:
        parse_model(raw, str(path))
    assert info.value.column == "tree.branches.FP.qaly_loss"


def test_scenarios_rerun_the_base_case_with_their_inputs() -> None:
    from dari.econ import analyse

    raw = _raw()
    raw["strategies"] = {"a": {}, "b": {"state_costs": {"Alive": "c * 2"}}}
    raw["scenarios"] = {"cheap": {"c": 50.0}}
    a = analyse(parse_model(raw, "m.toml"))
    out = a.to_dict()["scenarios"]["cheap"]["strategies"]
    assert out["b"]["cost"] == pytest.approx(float(a.base["b"].cost[0]) / 2)  # every cost halves with c
    raw["scenarios"] = {"bad": {"nope": 1.0}}
    with pytest.raises(InputError, match="not a numeric parameter") as info:
        parse_model(raw, "m.toml")
    assert info.value.column == "scenarios.bad.nope"
