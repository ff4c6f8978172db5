"""PSA: distributions' moments, Dirichlet rows, zero variance, EVPI and seeded reproducibility."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from helpers import two_state

from dari.econ import evaluate, load_model, run_psa
from dari.econ.distributions import beta_from_ci, beta_from_mean_se, draw, gamma_from_mean_se
from dari.econ.params import base_values, sample
from dari.econ.psa import acceptability
from dari.econ.spec import Distribution

CHANCELLOR = Path(str(resources.files("dari.econ") / "examples" / "chancellor_hiv.toml"))


def test_beta_from_mean_se_reproduces_moments() -> None:
    a, b = beta_from_mean_se(0.3, 0.05)
    assert a / (a + b) == pytest.approx(0.3)
    assert np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))) == pytest.approx(0.05)


def test_gamma_from_mean_se_reproduces_moments() -> None:
    k, theta = gamma_from_mean_se(1000.0, 200.0)
    assert k * theta == pytest.approx(1000.0)
    assert np.sqrt(k) * theta == pytest.approx(200.0)


def test_draw_sample_moments_match_distribution() -> None:
    rng = np.random.default_rng(1)
    x = draw(Distribution(type="gamma", mean=500.0, se=100.0), 500.0, 200_000, rng)
    assert x.mean() == pytest.approx(500, rel=0.01)
    assert x.std() == pytest.approx(100, rel=0.02)
    y = draw(Distribution(type="lognormal", mean=0.5, se=0.1), 0.5, 200_000, rng)
    assert y.mean() == pytest.approx(0.5, rel=0.01)


def test_beta_from_ci_width_gives_se() -> None:
    a, b = beta_from_ci(0.8, 0.7, 0.9)
    assert a / (a + b) == pytest.approx(0.8)
    assert np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))) == pytest.approx(0.2 / 3.919928, rel=1e-6)


def test_beta_from_mean_se_too_wide_rejected() -> None:
    with pytest.raises(ValueError, match="too large"):
        beta_from_mean_se(0.5, 0.6)


def test_dirichlet_rows_sum_to_one() -> None:
    spec = load_model(CHANCELLOR)
    v = sample(spec, 500, np.random.default_rng(3))
    assert v["pAA"] + v["pAB"] + v["pAC"] + v["pAD"] == pytest.approx(np.ones(500))
    assert v["pCC"] + v["pCD"] == pytest.approx(np.ones(500))
    assert v["pAB"].std() > 0


def test_psa_zero_variance_equals_deterministic() -> None:
    spec = two_state("half-cycle", horizon=10, discount_costs=0.045)
    res = run_psa(spec, 50, seed=1)
    det = evaluate(spec, base_values(spec))["only"]
    assert res.costs[0] == pytest.approx(np.full(50, det.cost[0]))
    assert res.qalys[0] == pytest.approx(np.full(50, det.qaly[0]))


def test_psa_seeded_reproducible_and_chunk_independent() -> None:
    spec = load_model(CHANCELLOR)
    a = run_psa(spec, 300, seed=11, chunk=100)
    b = run_psa(spec, 300, seed=11, chunk=300)
    c = run_psa(spec, 300, seed=12)
    assert np.array_equal(a.costs, b.costs)
    assert not np.array_equal(a.costs, c.costs)


def test_evpi_nonnegative_and_zero_when_one_strategy_always_wins() -> None:
    rng = np.random.default_rng(0)
    costs = rng.normal(100, 10, (2, 1000))
    qalys = rng.normal(1, 0.1, (2, 1000))
    _, _, evpi = acceptability(costs, qalys, np.linspace(0, 1000, 11))
    assert (evpi >= 0).all()
    assert evpi.max() > 0
    dominant = np.stack([costs[0], costs[0] + 50])  # strategy 0 always cheaper, equally effective
    ceac, best, evpi0 = acceptability(dominant, np.stack([qalys[0], qalys[0]]), np.linspace(0, 1000, 11))
    assert evpi0 == pytest.approx(np.zeros(11))
    assert (ceac[0] == 1).all()
    assert (best == 0).all()


def test_ceac_columns_sum_to_one() -> None:
    res = run_psa(load_model(CHANCELLOR), 200, seed=5)
    assert res.ceac.sum(axis=0) == pytest.approx(np.ones(len(res.wtp_grid)))
