"""Strict and extended dominance and frontier ICERs on constructed cases."""

from __future__ import annotations

import pytest

from dari.econ.incremental import frontier, icer, net_monetary_benefit


def _status(costs: dict[str, float], effects: dict[str, float]) -> dict[str, str]:
    return {r.strategy: r.status for r in frontier(costs, effects)}


def test_frontier_strict_dominance_removes_costlier_less_effective() -> None:
    st = _status({"a": 100, "b": 200, "c": 300}, {"a": 1.0, "b": 0.9, "c": 2.0})
    assert st == {"a": "frontier", "b": "dominated", "c": "frontier"}


def test_frontier_extended_dominance_removes_higher_icer_option() -> None:
    # b: ICER 1000 vs a; c: ICER 100 vs b → b is extendedly dominated (a→c ICER = 1100/2 = 550)
    rows = {r.strategy: r for r in frontier({"a": 0, "b": 1000, "c": 1100}, {"a": 0, "b": 1.0, "c": 2.0})}
    assert rows["b"].status == "extendedly dominated"
    assert rows["c"].versus == "a"
    assert rows["c"].icer == pytest.approx(550)


def test_frontier_icers_increase_along_frontier() -> None:
    rows = frontier({"a": 0, "b": 100, "c": 400, "d": 1000}, {"a": 0, "b": 1, "c": 2, "d": 2.5})
    icers = [r.icer for r in rows if r.status == "frontier" and r.icer is not None]
    assert icers == pytest.approx([100, 300, 1200])


def test_frontier_equal_cost_keeps_more_effective() -> None:
    st = _status({"a": 100, "b": 100}, {"a": 1.0, "b": 2.0})
    assert st == {"b": "frontier", "a": "dominated"}


def test_icer_undefined_without_effect_difference() -> None:
    assert icer(10, 1, 5, 1) is None
    assert net_monetary_benefit(100, 2, 1000) == 1900
