"""DerSimonian–Laird against R metafor's published output, statsmodels, and hand-computed toy data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects
from validation_sites import make_site

from dari.validation import Estimate, UndefinedMetricWarning, auroc, dersimonian_laird, meta_analyse, meta_analyse_auroc

# Kacker (2004) interlaboratory example as computed by R metafor, rma(y, v, method="DL"); the numbers are those
# statsmodels checks against (statsmodels/stats/tests/results/results_meta.py, exk1_dl).
KACKER_Y = [61.0, 61.4, 62.21, 62.3, 62.34, 62.6, 62.7, 62.84, 65.9]
KACKER_V = [0.2025, 1.2100, 0.0900, 0.2025, 0.3844, 0.5625, 0.0676, 0.0225, 1.8225]


def _kacker() -> tuple[dict[str, float], dict[str, float]]:
    names = [f"lab{i}" for i in range(len(KACKER_Y))]
    return dict(zip(names, KACKER_Y, strict=True)), {k: math.sqrt(v) for k, v in zip(names, KACKER_V, strict=True)}


def test_dersimonian_laird_reproduces_metafor_kacker_example() -> None:
    est, se = _kacker()
    r = dersimonian_laird(est, se)
    assert r.estimate == pytest.approx(62.3901386044504, abs=1e-10)
    assert r.se == pytest.approx(0.245749668040304, rel=1e-10)
    assert (r.ci_low, r.ci_high) == pytest.approx((61.9084781058787, 62.8717991030221), abs=1e-9)
    assert r.tau2 == pytest.approx(0.288049246973751, rel=1e-9)
    assert r.q == pytest.approx(24.801897741835, rel=1e-10)
    assert r.q_pvalue == pytest.approx(0.00167935146372742, rel=1e-8)
    assert r.i2 == pytest.approx(0.67744403741711, rel=1e-10)
    assert r.fixed_effect == pytest.approx(62.5833970939982, abs=1e-10)


def test_prediction_interval_uses_t_with_k_minus_2_df() -> None:
    est, se = _kacker()
    r = dersimonian_laird(est, se)
    half = stats.t.ppf(0.975, 9 - 2) * math.sqrt(r.tau2 + r.se**2)
    assert (r.pi_low, r.pi_high) == pytest.approx((r.estimate - half, r.estimate + half), abs=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_dersimonian_laird_matches_statsmodels_combine_effects(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 15))
    theta = rng.normal(0.8, 0.3, k)
    var = rng.uniform(0.005, 0.1, k)
    ref = combine_effects(theta, var, method_re="dl")
    r = dersimonian_laird({str(i): t for i, t in enumerate(theta)}, {str(i): math.sqrt(v) for i, v in enumerate(var)})
    assert r.estimate == pytest.approx(ref.mean_effect_re, abs=1e-12)
    assert r.se == pytest.approx(ref.sd_eff_w_re, rel=1e-10)
    assert r.tau2 == pytest.approx(ref.tau2, abs=1e-12)
    assert r.q == pytest.approx(ref.q, rel=1e-10)
    assert r.i2 == pytest.approx(ref.i2, abs=1e-12)
    row = ref.summary_frame().loc["random effect"]
    assert (r.ci_low, r.ci_high) == pytest.approx((row["ci_low"], row["ci_upp"]), abs=1e-10)


def test_homogeneous_toy_data_by_hand() -> None:
    # two equal estimates with SE 0.1 and 0.2: Q = 0, τ² = 0, I² = 0, pooled = the common value,
    # SE = (1/0.01 + 1/0.04)^−½ = 0.0894…; no prediction interval with k = 2
    with pytest.warns(UndefinedMetricWarning, match="prediction interval"):
        r = dersimonian_laird({"a": 0.5, "b": 0.5}, {"a": 0.1, "b": 0.2})
    assert (r.estimate, r.tau2, r.i2, r.q) == (pytest.approx(0.5), 0.0, 0.0, pytest.approx(0.0))
    assert r.se == pytest.approx((1 / 0.01 + 1 / 0.04) ** -0.5)
    assert math.isnan(r.pi_low)


def test_heterogeneous_toy_data_by_hand() -> None:
    # estimates 0, 1, 2 with SE 1: w = 1, θ_FE = 1, Q = 2, df = 2 → τ² = 0; estimates 0, 3, 6: Q = 18,
    # C = 3 − 3/3 = 2, τ² = (18 − 2)/2 = 8, I² = 16/18
    r = dersimonian_laird({"a": 0.0, "b": 3.0, "c": 6.0}, {"a": 1.0, "b": 1.0, "c": 1.0})
    assert (r.q, r.tau2, r.i2) == pytest.approx((18.0, 8.0, 16 / 18))
    assert r.se == pytest.approx(math.sqrt(9 / 3))


def test_undefined_sites_are_left_out_with_a_warning() -> None:
    with pytest.warns(UndefinedMetricWarning) as caught:
        r = meta_analyse(
            {
                "a": Estimate(estimate=1.0, se=0.1, ci_low=0.8, ci_high=1.2),
                "b": Estimate(estimate=float("nan"), se=float("nan"), ci_low=float("nan"), ci_high=float("nan")),
                "c": Estimate(estimate=1.2, se=0.2, ci_low=0.8, ci_high=1.6),
            }
        )
    assert r.sites == ("a", "c") and r.excluded == ("b",) and r.k == 2
    assert any("left out" in str(w.message) for w in caught)


def test_meta_analysis_of_auroc_pools_on_logit_scale() -> None:
    rng = np.random.default_rng(8)
    sites = {f"site{i}": auroc(*make_site(rng, 3000, separation=1.0 + 0.3 * i)) for i in range(4)}
    r = meta_analyse_auroc(sites)
    theta = {k: math.log(v.estimate / (1 - v.estimate)) for k, v in sites.items()}
    se = {k: v.se / (v.estimate * (1 - v.estimate)) for k, v in sites.items()}
    ref = dersimonian_laird(theta, se)
    assert r.scale == "logit" and r.theta == pytest.approx(ref.estimate)
    assert r.estimate == pytest.approx(1 / (1 + math.exp(-ref.estimate)))
    assert 0 < r.pi_low < r.ci_low < r.estimate < r.ci_high < r.pi_high < 1
