"""Model-card statistics against independent references (scikit-learn, statsmodels) and hand-worked data."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score

from dari.models.performance import auroc, score


def _sample(n: int, seed: int, shift: float, stretch: float) -> tuple[np.ndarray, np.ndarray]:
    """Predictions p and outcomes drawn from a true logit = shift + stretch · logit(p)."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(-1.2, 1.0, n)
    y = rng.random(n) < 1 / (1 + np.exp(-(shift + stretch * lp)))
    return 1 / (1 + np.exp(-lp)), y


def test_auroc_hand_worked_with_ties() -> None:
    # Prepare: events 0.8, 0.4; non-events 0.4, 0.1 → pairs: 1, 1, 0.5 (tie), 1 → 3.5 / 4
    p = np.array([0.8, 0.4, 0.4, 0.1])
    y = np.array([1, 1, 0, 0], dtype=bool)
    # Execute / Assert
    assert auroc(p, y) == pytest.approx(0.875)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_auroc_equals_sklearn(seed: int) -> None:
    # Prepare
    p, y = _sample(3000, seed, 0.0, 1.0)
    p = np.round(p, 2)  # many ties
    # Execute / Assert
    assert auroc(p, y) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


@pytest.mark.parametrize(("shift", "stretch"), [(0.0, 1.0), (0.5, 0.7), (-0.4, 1.3)])
def test_calibration_equals_statsmodels_glm(shift: float, stretch: float) -> None:
    # Prepare
    p, y = _sample(4000, 7, shift, stretch)
    lp = np.log(p / (1 - p))
    slope_ref = sm.GLM(y.astype(float), sm.add_constant(lp), family=sm.families.Binomial()).fit().params[1]
    citl_ref = sm.GLM(y.astype(float), np.ones((y.size, 1)), family=sm.families.Binomial(), offset=lp).fit().params[0]
    # Execute
    s = score(p, y)
    # Assert
    assert s.calibration_slope == pytest.approx(slope_ref, abs=1e-8)
    assert s.calibration_in_the_large == pytest.approx(citl_ref, abs=1e-8)
    assert s.observed_expected == pytest.approx(y.sum() / p.sum())
    assert s.brier == pytest.approx(np.mean((p - y) ** 2))
    assert s.calibration_slope == pytest.approx(stretch, abs=0.15)


def test_one_class_gives_none_not_an_error() -> None:
    # Execute
    s = score(np.array([0.1, 0.2, 0.3]), np.zeros(3, dtype=bool))
    # Assert
    assert s.auroc is None and s.calibration_slope is None and s.events == 0
    assert s.observed_expected == 0.0
