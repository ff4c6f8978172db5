"""Net benefit (Vickers & Elkin 2006) by hand and against a plain per-threshold loop."""

from __future__ import annotations

import numpy as np
import pytest
from validation_sites import make_site

from dari.validation import decision_curve


def slow_net_benefit(y: np.ndarray, s: np.ndarray, t: float) -> tuple[float, float]:
    n = y.size
    tp = sum(1 for yi, si in zip(y, s, strict=True) if si >= t and yi == 1)
    fp = sum(1 for yi, si in zip(y, s, strict=True) if si >= t and yi == 0)
    prevalence = y.mean()
    return tp / n - fp / n * t / (1 - t), prevalence - (1 - prevalence) * t / (1 - t)


def test_net_benefit_hand_worked() -> None:
    # 10 rows, 3 events; at t = 0.2 (odds ¼): 2 TP, 2 FP → NB = 0.2 − 0.2·0.25 = 0.15; treat all 0.3 − 0.7·0.25
    y = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    s = [0.9, 0.5, 0.1, 0.6, 0.3, 0.1, 0.1, 0.05, 0.05, 0.05]
    dc = decision_curve(y, s, [0.2])
    assert dc.net_benefit[0] == pytest.approx(0.15)
    assert dc.treat_all[0] == pytest.approx(0.3 - 0.7 * 0.25)
    assert dc.treat_none == (0.0,)


@pytest.mark.parametrize("seed", range(3))
def test_decision_curve_matches_slow_loop(seed: int) -> None:
    y, s = make_site(np.random.default_rng(seed), 800, decimals=2)
    thresholds = [0.01, 0.05, 0.1, 0.2, 0.33, 0.5, 0.8]
    dc = decision_curve(y, s, thresholds)
    for t, nb, all_ in zip(thresholds, dc.net_benefit, dc.treat_all, strict=True):
        assert (nb, all_) == pytest.approx(slow_net_benefit(y, s, t), abs=1e-12)


@pytest.mark.parametrize("bad", [[0.0], [1.0], [], [0.5, 1.2]])
def test_decision_curve_rejects_thresholds_outside_open_unit_interval(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="strictly inside"):
        decision_curve([0, 1], [0.2, 0.8], bad)
