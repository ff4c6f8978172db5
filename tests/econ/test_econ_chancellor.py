"""Reproduction of the Chancellor et al. (1997) HIV model as in Briggs, Claxton & Sculpher (2006), exercise 2.5."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from dari.econ import analyse, evaluate, load_model
from dari.econ.params import base_values

MODEL = Path(str(resources.files("dari.econ") / "examples" / "chancellor_hiv.toml"))


def test_chancellor_matches_briggs_exercise_2_5() -> None:
    """Published: monotherapy £44,663 and 7.996 LYs (7.991 in the book's spreadsheet), combination £50,602 and
    8.937 LYs, ICER £6,276 per LY gained (Briggs et al. 2006, Tables 2.3–2.4 / ex. 2.5), counting at cycle end,
    costs at 6 % and LYs undiscounted. Confirmed against heemod's DMHEE reproduction test (ICER rounds to 6276,
    lamivudine £2,086.50) and rdecision's test-model-AZT.R (44,663 / 50,602 / 8.937 / 6,276)."""
    spec = load_model(MODEL)
    res = evaluate(spec, base_values(spec))
    mono, comb = res["mono"], res["comb"]
    assert round(float(mono.cost[0])) == 44663
    assert round(float(comb.cost[0])) == 50602
    assert float(mono.ly[0]) == pytest.approx(7.991, abs=5e-4)
    assert float(comb.ly[0]) == pytest.approx(8.937, abs=5e-4)
    icer = (comb.cost[0] - mono.cost[0]) / (comb.ly[0] - mono.ly[0])
    assert round(float(icer)) == 6276


def test_chancellor_undiscounted_effects_equal_discounted() -> None:
    spec = load_model(MODEL)
    res = evaluate(spec, base_values(spec))
    assert res["comb"].ly == pytest.approx(res["comb"].ly_undiscounted)
    assert res["comb"].cost_undiscounted[0] > res["comb"].cost[0]


def test_chancellor_incremental_table_puts_combination_on_frontier() -> None:
    result = analyse(load_model(MODEL))
    rows = {r.strategy: r for r in result.table}
    assert rows["comb"].status == "frontier"
    assert rows["comb"].versus == "mono"
    assert rows["comb"].icer == pytest.approx(6276, abs=1)
