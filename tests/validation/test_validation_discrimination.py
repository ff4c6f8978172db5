"""AUROC (fast DeLong) and average precision against slow references, scikit-learn and a published example."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score
from validation_sites import make_site

from dari.errors import InputError
from dari.validation import UndefinedMetricWarning, auroc, average_precision
from dari.validation.discrimination import mann_whitney_u


def slow_delong(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) straight from the definition: ψ over all m × n pairs, structural components."""
    x, z = s[y == 1], s[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    a = psi.mean()
    var = v10.var(ddof=1) / x.size + v01.var(ddof=1) / z.size
    return float(a), math.sqrt(var)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("decimals", [None, 1, 2])
def test_auroc_matches_slow_structural_components(seed: int, decimals: int | None) -> None:
    # Prepare
    rng = np.random.default_rng(seed)
    y, s = make_site(rng, 400, prevalence=0.3, decimals=decimals)
    # Execute
    fast = auroc(y, s)
    a, se = slow_delong(y, s)
    # Assert
    assert fast.estimate == pytest.approx(a, abs=1e-12)
    assert fast.se == pytest.approx(se, rel=1e-10)
    assert fast.estimate == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert mann_whitney_u(y == 1, s) == pytest.approx(a * y.sum() * (y.size - y.sum()), rel=1e-12)


def test_auroc_hanley_mcneil_1982_worked_example() -> None:
    # Hanley & McNeil (1982, Radiology 143:29), table 1: 109 CT images rated 1–5; published area 0.893.
    normal, abnormal = [33, 6, 6, 11, 2], [3, 2, 2, 11, 33]
    y = np.r_[np.zeros(sum(normal)), np.ones(sum(abnormal))]
    s = np.r_[np.repeat(np.arange(1, 6), normal), np.repeat(np.arange(1, 6), abnormal)] / 5
    result = auroc(y, s)
    assert round(result.estimate, 3) == 0.893
    assert result.se == pytest.approx(slow_delong(y, s)[1], rel=1e-12)


def test_auroc_ci_is_built_on_the_logit_scale() -> None:
    rng = np.random.default_rng(3)
    y, s = make_site(rng, 300, prevalence=0.2, separation=3.0)
    r = auroc(y, s)
    centre, half = math.log(r.estimate / (1 - r.estimate)), 1.959963984540054 * r.se / (r.estimate * (1 - r.estimate))
    assert r.ci_low == pytest.approx(1 / (1 + math.exp(-(centre - half))), rel=1e-12)
    assert r.ci_high == pytest.approx(1 / (1 + math.exp(-(centre + half))), rel=1e-12)
    assert 0 < r.ci_low < r.estimate < r.ci_high < 1


def test_auroc_perfect_separation_has_degenerate_interval() -> None:
    r = auroc([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9])
    assert (r.estimate, r.se, r.ci_low, r.ci_high) == (1.0, 0.0, 1.0, 1.0)


@pytest.mark.parametrize("y", [[0, 0, 0], [1, 1, 1], []])
def test_auroc_one_class_warns_and_returns_nan(y: list[int]) -> None:
    with pytest.warns(UndefinedMetricWarning, match="AUROC"):
        r = auroc(y, [0.5] * len(y))
    assert math.isnan(r.estimate) and math.isnan(r.se) and math.isnan(r.ci_low)


def test_auroc_single_positive_has_estimate_but_no_delong_variance() -> None:
    with pytest.warns(UndefinedMetricWarning, match="DeLong"):
        r = auroc([0, 0, 1], [0.1, 0.5, 0.3])
    assert r.estimate == 0.5 and math.isnan(r.se)


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([0, 2], [0.1, 0.2], "only 0 and 1"),
        ([0, 1], [0.1, 1.2], "probabilities"),
        ([0, 1], [0.1, float("nan")], "probabilities"),
        ([0, 1, 1], [0.1, 0.2], "same length"),
    ],
)
def test_auroc_rejects_bad_input(y: list[int], s: list[float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        auroc(y, s)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("decimals", [None, 1])
def test_average_precision_matches_sklearn(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(seed)
    y, s = make_site(rng, 1000, prevalence=0.15, decimals=decimals)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_average_precision_hand_worked() -> None:
    # ranked 0.9(+) 0.8(−) 0.7(+): precision 1 at recall ½, then 2/3 at recall 1 → ½·1 + ½·⅔ = 5/6
    assert average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(5 / 6)


def test_average_precision_without_positives_is_nan() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = average_precision([0, 0], [0.2, 0.4])
    assert math.isnan(value) and any(issubclass(w.category, UndefinedMetricWarning) for w in caught)
