"""2×2 table and Wilson intervals against scikit-learn and statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.metrics import confusion_matrix
from statsmodels.stats.proportion import proportion_confint
from validation_sites import make_site

from dari.validation import ConfusionCounts, UndefinedMetricWarning, confusion_counts, threshold_metrics
from dari.validation.thresholds import wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 10), (3, 10), (10, 10), (57, 113), (999, 1000), (1, 100_000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_interval_matches_statsmodels(k: int, n: int, confidence: float) -> None:
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    assert wilson_interval(k, n, confidence) == pytest.approx((low, high), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.05, 0.2, 0.5])
def test_confusion_counts_match_sklearn(seed: int, threshold: float) -> None:
    y, s = make_site(np.random.default_rng(seed), 2000, decimals=2)
    c = confusion_counts(y, s, threshold)
    tn, fp, fn, tp = confusion_matrix(y, (s >= threshold).astype(int), labels=[0, 1]).ravel()
    assert (c.tp, c.fp, c.fn, c.tn) == (tp, fp, fn, tn)


def test_score_equal_to_threshold_is_test_positive() -> None:
    c = confusion_counts([1, 0, 1, 0], [0.5, 0.5, 0.4, 0.1], 0.5)
    assert (c.tp, c.fp, c.fn, c.tn) == (1, 1, 1, 1)


def test_threshold_metrics_hand_worked() -> None:
    m = threshold_metrics(ConfusionCounts(threshold=0.3, tp=40, fp=30, fn=10, tn=120))
    assert m.sensitivity.estimate == pytest.approx(0.8)
    assert m.specificity.estimate == pytest.approx(0.8)
    assert m.ppv.estimate == pytest.approx(40 / 70)
    assert m.npv.estimate == pytest.approx(120 / 130)
    assert (m.sensitivity.ci_low, m.sensitivity.ci_high) == pytest.approx(
        proportion_confint(40, 50, method="wilson"), abs=1e-12
    )


def test_threshold_metrics_empty_denominator_warns_nan() -> None:
    with pytest.warns(UndefinedMetricWarning, match="sensitivity"):
        m = threshold_metrics(ConfusionCounts(threshold=0.5, tp=0, fp=3, fn=0, tn=7))
    assert math.isnan(m.sensitivity.estimate) and math.isnan(m.sensitivity.ci_low)
    assert m.specificity.estimate == pytest.approx(0.7)


@pytest.mark.parametrize("bad", [{"tp": -1}, {"tp": 1.5}, {"tp": True}, {"tp": float("nan")}, {"threshold": 2.0}])
def test_confusion_counts_record_rejects_bad_values(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"threshold": 0.5, "tp": 1, "fp": 1, "fn": 1, "tn": 1} | bad
    with pytest.raises(ValidationError):
        ConfusionCounts.model_validate(fields)
