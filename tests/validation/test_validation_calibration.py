"""Calibration slope / CITL against statsmodels GLM, Brier and the curve against scikit-learn, ECE by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.metrics import brier_score_loss
from validation_sites import make_site

from dari.validation import UndefinedMetricWarning, brier_score, calibration, calibration_curve
from dari.validation._common import logit


def glm(y: np.ndarray, s: np.ndarray, citl: bool) -> sm.GLM:
    lp = logit(s)
    if citl:
        model = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=lp)
    else:
        model = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial())
    return model.fit(tol=1e-13)


@pytest.mark.parametrize("seed", range(5))
def test_calibration_slope_and_citl_match_statsmodels_glm(seed: int) -> None:
    # Prepare: a miscalibrated model (scores too extreme and shifted)
    rng = np.random.default_rng(seed)
    y, s = make_site(rng, 3000, shift=-1.5, spread=1.4, prevalence=0.2)
    # Execute
    result = calibration(y, s)
    slope_ref, citl_ref = glm(y, s, citl=False), glm(y, s, citl=True)
    # Assert
    assert result.slope.estimate == pytest.approx(slope_ref.params[1], abs=1e-8)
    assert result.intercept_with_slope == pytest.approx(slope_ref.params[0], abs=1e-8)
    assert result.slope.se == pytest.approx(slope_ref.bse[1], rel=1e-7)
    assert (result.slope.ci_low, result.slope.ci_high) == pytest.approx(tuple(slope_ref.conf_int()[1]), abs=1e-7)
    assert result.citl.estimate == pytest.approx(citl_ref.params[0], abs=1e-8)
    assert result.citl.se == pytest.approx(citl_ref.bse[0], rel=1e-7)
    assert (result.citl.ci_low, result.citl.ci_high) == pytest.approx(tuple(citl_ref.conf_int()[0]), abs=1e-7)


def test_perfectly_calibrated_scores_give_slope_near_one_and_citl_near_zero() -> None:
    rng = np.random.default_rng(11)
    p = 1 / (1 + np.exp(-rng.normal(-1, 1.2, 200_000)))
    y = (rng.random(p.size) < p).astype(int)
    result = calibration(y, p)
    assert result.slope.ci_low < 1 < result.slope.ci_high
    assert result.citl.ci_low < 0 < result.citl.ci_high


@pytest.mark.parametrize("seed", range(3))
def test_brier_matches_sklearn_and_scaled_brier_by_hand(seed: int) -> None:
    y, s = make_site(np.random.default_rng(seed), 5000)
    b = brier_score(y, s)
    assert b.brier == pytest.approx(brier_score_loss(y, s), abs=1e-14)
    prevalence = y.mean()
    assert b.scaled == pytest.approx(1 - b.brier / (prevalence * (1 - prevalence)), abs=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_calibration_curve_matches_sklearn_uniform_bins(seed: int) -> None:
    y, s = make_site(np.random.default_rng(seed), 5000, shift=-1.0)
    curve = calibration_curve(y, s, n_bins=10)
    observed, predicted = sk_calibration_curve(y, s, n_bins=10, strategy="uniform")
    filled = [b for b in curve.bins if b.n]
    assert [b.observed for b in filled] == pytest.approx(list(observed), abs=1e-12)
    assert [b.mean_predicted for b in filled] == pytest.approx(list(predicted), abs=1e-12)
    assert sum(b.n or 0 for b in curve.bins) == y.size


def test_calibration_curve_and_ece_hand_worked() -> None:
    # bins [0, .5) and [.5, 1]: first holds .1 .2 .3 .4 with one event, second .6 .8 with both events
    y = [0, 1, 0, 0, 1, 1]
    s = [0.1, 0.2, 0.3, 0.4, 0.6, 0.8]
    curve = calibration_curve(y, s, n_bins=2)
    first, second = curve.bins
    assert (first.n, first.events, first.mean_predicted, first.observed) == (4, 1, pytest.approx(0.25), 0.25)
    assert (second.n, second.events, second.mean_predicted, second.observed) == (2, 2, pytest.approx(0.7), 1.0)
    assert curve.ece == pytest.approx((4 * 0.0 + 2 * 0.3) / 6)


def test_quantile_bins_hold_equal_counts() -> None:
    y, s = make_site(np.random.default_rng(4), 1000)
    curve = calibration_curve(y, s, n_bins=5, strategy="quantile")
    assert [b.n for b in curve.bins] == [200] * 5


def test_one_class_calibration_warns_and_returns_nan_never_raises() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = calibration([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4])
    assert math.isnan(result.slope.estimate) and math.isnan(result.citl.estimate)
    assert math.isnan(result.brier.scaled) and result.brier.brier == pytest.approx((0.01 + 0.04 + 0.09 + 0.16) / 4)
    assert any(issubclass(w.category, UndefinedMetricWarning) for w in caught)


def test_separated_scores_give_nan_slope_with_warning() -> None:
    with pytest.warns(UndefinedMetricWarning, match="slope"):
        result = calibration([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert math.isnan(result.slope.estimate)
