"""Pooled metrics from site-level sufficient statistics agree with the centralised computation on pooled rows,
and nothing a site releases is a small cell."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sklearn.metrics import roc_auc_score
from validation_sites import Site, make_site, pooled, realistic_network

from dari.disclosure import DisclosureRefusedError, DisclosureRules
from dari.errors import InputError
from dari.validation import (
    PooledMetrics,
    SiteSufficientStatistics,
    ValidationSpec,
    calibration_curve,
    centralised_pooled_metrics,
    federated_pooled_metrics,
    site_sufficient_statistics,
)
from dari.validation.histogram import ClassHistogram, ClassIntervals, ScoreHistogram, _prob_greater, concordant_pairs


def joint_counts(h: ScoreHistogram) -> list[tuple[int, int]]:
    """Positives and negatives per joint bin, added up from the class bins nested in it."""
    out = []
    for lo, hi in zip(h.edges[:-1], h.edges[1:], strict=True):
        per_class = []
        for ch in (h.positives, h.negatives):
            per_class.append(
                sum(c for a, c in zip(ch.edges[:-1], ch.counts, strict=True) if lo <= a < hi)  # bins start inside
            )
        out.append((per_class[0], per_class[1]))
    return out


def assert_no_small_cell(stats: SiteSufficientStatistics, min_cell: int) -> None:
    assert stats.histogram.smallest_cell() >= min_cell
    assert all(p >= min_cell and n >= min_cell for p, n in joint_counts(stats.histogram))


def assert_agree(fed: PooledMetrics, cen: PooledMetrics, y: np.ndarray, s: np.ndarray, auroc_tol: float) -> None:
    """The brief's tolerances: AUROC 1e-3 (or tighter), calibration 1e-6, n / events / Brier exact."""
    assert (fed.n, fed.events) == (cen.n, cen.events)
    assert fed.brier.brier == pytest.approx(cen.brier.brier, abs=1e-12)
    assert fed.brier.scaled == pytest.approx(cen.brier.scaled, abs=1e-12)
    assert abs(fed.auroc.estimate - cen.auroc.estimate) < auroc_tol
    for f, c in ((fed.calibration_slope, cen.calibration_slope), (fed.citl, cen.citl)):
        assert f.estimate == pytest.approx(c.estimate, abs=1e-6)
        assert f.se == pytest.approx(c.se, abs=1e-6)
    if fed.threshold_exact:
        assert fed.threshold.counts == cen.threshold.counts
        assert fed.threshold.sensitivity == cen.threshold.sensitivity
    exact = fed.decision_curve.exact or ()
    for ok, a, b in zip(exact, fed.decision_curve.net_benefit, cen.decision_curve.net_benefit, strict=True):
        if ok:
            assert a == pytest.approx(b, abs=1e-12)
    ref = calibration_curve(y, s, edges=np.array([b.low for b in fed.calibration_curve.bins] + [1.0]))
    for f_bin, c_bin in zip(fed.calibration_curve.bins, ref.bins, strict=True):
        assert (f_bin.n, f_bin.events) == (c_bin.n, c_bin.events)


@pytest.mark.parametrize("seed", range(3))
def test_pooled_metrics_agree_with_centralised_on_realistic_network(seed: int) -> None:
    # Prepare: 3 hospitals × 20,000 rows with different prevalence and score spread
    sites = realistic_network(seed)
    y, s = pooled(sites)
    spec = ValidationSpec(threshold=0.2)
    # Execute
    fed = federated_pooled_metrics(sites, spec)
    cen = centralised_pooled_metrics(y, s, spec, sites=3)
    # Assert: the brief asks 1e-3; this design reaches about 1e-6 here (docs/validation-statistics.md)
    assert_agree(fed, cen, y, s, auroc_tol=1e-4)
    assert cen.auroc.estimate == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert fed.threshold_exact
    assert (
        max(abs(a - b) for a, b in zip(fed.decision_curve.net_benefit, cen.decision_curve.net_benefit, strict=True))
        < 3e-3
    )
    for f_bin, c_bin in zip(fed.calibration_curve.bins, calibration_curve(y, s, edges=_edges(fed)).bins, strict=True):
        assert f_bin.mean_predicted == pytest.approx(c_bin.mean_predicted, abs=1e-3)
    assert fed.auroc.ci_low < fed.auroc.estimate < fed.auroc.ci_high


def _edges(m: PooledMetrics) -> np.ndarray:
    return np.array([b.low for b in m.calibration_curve.bins] + [1.0])


@st.composite
def networks(draw: st.DrawFn) -> tuple[list[Site], int, bool]:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = draw(st.integers(1, 4))
    discrete = draw(st.booleans())
    sites = [
        make_site(
            rng,
            draw(st.integers(3000, 12000)),
            shift=draw(st.floats(-3.0, -1.0)),
            spread=draw(st.floats(0.6, 1.5)),
            prevalence=draw(st.floats(0.08, 0.3)),
            separation=draw(st.floats(0.8, 2.0)),
            decimals=3 if discrete else None,
        )
        for _ in range(k)
    ]
    return sites, draw(st.integers(5, 20)), discrete


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_federated_pooled_equals_centralised_property(network: tuple[list[Site], int, bool]) -> None:
    sites, min_cell, discrete = network
    spec = ValidationSpec(threshold=0.3, score_decimals=3 if discrete else None)
    rules = DisclosureRules(min_cell=min_cell)
    for sy, ss in sites:
        assert_no_small_cell(site_sufficient_statistics(sy, ss, spec, rules), min_cell)
    y, s = pooled(sites)
    fed = federated_pooled_metrics(sites, spec, rules)
    cen = centralised_pooled_metrics(y, s, spec, sites=len(sites))
    assert_agree(fed, cen, y, s, auroc_tol=1e-3)


def test_single_site_pooled_auroc_is_exact() -> None:
    sites = realistic_network(4, n=3000)[:1]
    fed = federated_pooled_metrics(sites)
    assert fed.auroc.estimate == pytest.approx(roc_auc_score(*sites[0]), abs=1e-12)


def test_declared_score_resolution_keeps_ties_exact() -> None:
    # Prepare: a model that reports two decimals (many exact ties across sites)
    rng = np.random.default_rng(3)
    sites = [make_site(rng, 20_000, shift=-2.0, prevalence=0.1, decimals=2) for _ in range(3)]
    y, s = pooled(sites)
    # Execute
    declared = federated_pooled_metrics(sites, ValidationSpec(score_decimals=2))
    undeclared = federated_pooled_metrics(sites, ValidationSpec())
    # Assert
    exact = roc_auc_score(y, s)
    assert abs(declared.auroc.estimate - exact) < 3e-4
    assert abs(declared.auroc.estimate - exact) < abs(undeclared.auroc.estimate - exact)


def test_declared_resolution_is_checked() -> None:
    y, s = make_site(np.random.default_rng(0), 1000)
    with pytest.raises(InputError, match="multiples"):
        site_sufficient_statistics(y, s, ValidationSpec(score_decimals=2))


def test_site_refuses_too_few_events_or_non_events() -> None:
    s = np.random.default_rng(0).uniform(0, 1, 1009)
    y = np.array([1] * 9 + [0] * 1000)
    with pytest.raises(DisclosureRefusedError, match="fewer than 10 events"):
        site_sufficient_statistics(y, s)
    with pytest.raises(DisclosureRefusedError, match="fewer than 10 non-events"):
        site_sufficient_statistics(1 - y, s)


def test_threshold_anchor_is_dropped_only_for_a_small_cell() -> None:
    # Prepare: site A has plenty on both sides of 0.5; site B has few negatives above 0.5
    rng = np.random.default_rng(9)
    a = make_site(rng, 10_000, shift=-0.5, prevalence=0.3)
    b = make_site(rng, 10_000, shift=-3.5, prevalence=0.05, separation=2.5)
    spec = ValidationSpec(threshold=0.5)
    # Execute
    stats_a, stats_b = (site_sufficient_statistics(y, s, spec) for y, s in (a, b))
    # Assert
    assert 0.5 in stats_a.histogram.edges
    fp_b = int(((b[1] >= 0.5) & (b[0] == 0)).sum())
    assert fp_b < 10 and 0.5 not in stats_b.histogram.edges and 0.5 not in stats_b.histogram.negatives.edges
    assert not federated_pooled_metrics([a, b], spec).threshold_exact


def test_hub_check_refuses_a_release_below_its_own_minimum() -> None:
    y, s = make_site(np.random.default_rng(2), 4000)
    stats = site_sufficient_statistics(y, s, rules=DisclosureRules(min_cell=3))
    assert stats.histogram.smallest_cell() < 10  # with min_cell 3 the bins are finer than 10
    stats.check_disclosure(DisclosureRules(min_cell=3))
    with pytest.raises(DisclosureRefusedError, match="histogram bin"):
        stats.check_disclosure(DisclosureRules(min_cell=10))


def _valid_stats() -> dict[str, object]:
    y, s = make_site(np.random.default_rng(1), 3000)
    return site_sufficient_statistics(y, s).model_dump()


@pytest.mark.parametrize(
    "bad",
    [
        {"n": -1},
        {"n": True},
        {"events": 1.5},
        {"squared_error_sum": float("nan")},
        {"squared_error_sum": -0.1},
        {"concordant_pairs": float("inf")},
        {"concordant_pairs": 0.25},
        {"concordant_pairs": 1e12},
        {"events": 10},  # no longer matches the histogram
        {"min_cell": 0},
        {"extra": 1},
    ],
)
def test_site_record_rejects_bad_values(bad: dict[str, object]) -> None:
    good = _valid_stats()
    SiteSufficientStatistics.model_validate(good)
    with pytest.raises(ValidationError):
        SiteSufficientStatistics.model_validate(good | bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"edges": (0.0, 0.6, 0.5, 1.0)},
        {"edges": (0.1, 0.5, 1.0)},
        {"counts": (10, -1, 10)},
        {"counts": (10, True, 10)},
        {"counts": (10, 10)},
        {"score_sums": (0.0, 1.0, 9.9)},  # a mean at the very edge of its bin would bound a score
        {"score_sums": (float("nan"), 3.0, 8.0)},
    ],
)
def test_class_histogram_rejects_bad_values(bad: dict[str, object]) -> None:
    good: dict[str, object] = {"edges": (0.0, 0.2, 0.5, 1.0), "counts": (10, 10, 10), "score_sums": (1.0, 3.5, 7.5)}
    ClassHistogram.model_validate(good)
    with pytest.raises(ValidationError):
        ClassHistogram.model_validate(good | bad)


def test_score_histogram_requires_class_bins_nested_in_joint_bins() -> None:
    cls = ClassHistogram(edges=(0.0, 0.2, 1.0), counts=(10, 10), score_sums=(1.0, 6.0))
    ScoreHistogram(edges=(0.0, 1.0), positives=cls, negatives=cls)
    with pytest.raises(ValidationError, match="joint edge"):
        ScoreHistogram(edges=(0.0, 0.5, 1.0), positives=cls, negatives=cls)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ((0.2, 0.6), (0.1, 0.5)),
        ((0.3, 0.3), (0.1, 0.5)),
        ((0.2, 0.6), (0.4, 0.4)),
        ((0.4, 0.4), (0.4, 0.4)),
        ((0.1, 0.2), (0.3, 0.9)),
        ((0.0, 1.0), (0.0, 1.0)),
    ],
)
def test_prob_greater_matches_numerical_integration(x: tuple[float, float], y: tuple[float, float]) -> None:
    def draws(lo: float, hi: float) -> np.ndarray:
        return np.full(2001, lo) if lo == hi else np.linspace(lo, hi, 2001)

    xs, ys = draws(*x), draws(*y)
    brute = ((xs[:, None] > ys[None, :]) + 0.5 * (xs[:, None] == ys[None, :])).mean()
    value = _prob_greater(*(np.array([v]) for v in (*x, *y)))[0]
    assert value == pytest.approx(brute, abs=2e-3)


def test_concordant_pairs_matches_slow_double_sum() -> None:
    y, s = make_site(np.random.default_rng(6), 2500)
    y2, s2 = make_site(np.random.default_rng(7), 2500, shift=-1.0)
    pos = ClassIntervals(site_sufficient_statistics(y, s).histogram.positives)
    neg = ClassIntervals(site_sufficient_statistics(y2, s2).histogram.negatives)
    slow = sum(
        pos.c[i] * neg.c[j] * _prob_greater(pos.a[i : i + 1], pos.b[i : i + 1], neg.a[j : j + 1], neg.b[j : j + 1])[0]
        for i in range(pos.c.size)
        for j in range(neg.c.size)
    )
    assert concordant_pairs(pos, neg) == pytest.approx(slow, rel=1e-12)
    assert not math.isnan(slow)
