"""Differential privacy of training: the accountant against a published example, the noise scale, the ε ledger."""

from __future__ import annotations

import math
from pathlib import Path

import dp_accounting
import numpy as np
import pytest

from dari.disclosure import DisclosureRules
from dari.federation.dp_budget import PrivacyBudgetRefusedError, budget_path, charge_round, spent
from dari.federation.guard import Admission
from dari.federation.site_audit import SiteAuditLog
from dari.training import LogisticProblem
from dari.training.dp import DpSettings, clipped_gradient_sum, dp_event, dp_local_update, epsilon_spent, noise_std

# TensorFlow Privacy's published example (tensorflow_privacy/privacy/analysis/compute_noise_from_budget.py,
# docstring; the same figures in compute_dp_sgd_privacy.py): DP-SGD on MNIST, N = 60,000, batch 256, 60 epochs,
# δ = 1e-5, ε = 2.92 <-> noise multiplier 1.12, by the RDP accountant (Abadi et al. 2016; Mironov 2017) with
# TF Privacy's orders and the classic conversion ε = min_α RDP(α) + log(1/δ)/(α − 1).
TFP_N, TFP_BATCH, TFP_EPOCHS, TFP_SIGMA, TFP_DELTA, TFP_EPSILON = 60_000, 256, 60, 1.12, 1e-5, 2.92
TFP_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def test_dp_epsilon_matches_tensorflow_privacy_published_example() -> None:
    # Prepare
    settings = DpSettings(noise_multiplier=TFP_SIGMA, sampling_rate=TFP_BATCH / TFP_N, delta=TFP_DELTA)
    steps = math.ceil(TFP_EPOCHS * TFP_N / TFP_BATCH)
    # Execute: the event dari builds, in an RDP accountant with TF Privacy's orders, converted the classic way
    accountant = dp_accounting.rdp.RdpAccountant(TFP_ORDERS)
    accountant.compose(dp_event(settings, steps))
    rdp, orders = np.asarray(accountant._rdp), np.asarray(accountant._orders)
    classic = float(np.min(rdp - math.log(TFP_DELTA) / (orders - 1)))
    # Assert: the published figure, and dari's own ε (dp-accounting's tighter conversion; PLD tighter still)
    assert classic == pytest.approx(TFP_EPSILON, abs=0.005)
    rdp_eps = epsilon_spent(settings, steps)
    pld_eps = epsilon_spent(settings.model_copy(update={"accountant": "pld"}), steps)
    assert 2.3 < pld_eps < rdp_eps < TFP_EPSILON
    assert epsilon_spent(settings, 0) == 0.0 and epsilon_spent(settings, steps // 2) < rdp_eps


def test_dp_noise_has_the_scale_sigma_times_clipping_norm() -> None:
    # Prepare: 400 rows, one local step at learning rate 1, so w − w₀ = −(clipped sum + noise)/n − L2 term
    rng = np.random.default_rng(7)
    z = rng.normal(size=(400, 3))
    y = (rng.random(400) < 0.3).astype(np.float64)
    problem = LogisticProblem(l2=0.0, local_steps=1, learning_rate=1.0)
    settings = DpSettings(noise_multiplier=2.0, clipping_norm=0.5)
    w0 = np.zeros(4)
    a = np.hstack([np.ones((400, 1)), z])
    exact = w0 - clipped_gradient_sum(w0, a, y, 0.5) / 400
    # Execute
    draws = np.array([dp_local_update(w0, z, y, problem, settings, rng) for _ in range(3000)])
    # Assert: centred on the clipped step, each coordinate's std σ·C/n
    assert noise_std(settings) == 1.0
    assert np.abs(draws.mean(axis=0) - exact).max() < 4 * 1.0 / 400 / math.sqrt(3000)
    assert np.allclose(draws.std(axis=0), 1.0 / 400, rtol=0.06)


def test_dp_clipping_bounds_every_rows_gradient() -> None:
    rng = np.random.default_rng(1)
    a = np.hstack([np.ones((50, 1)), rng.normal(scale=30, size=(50, 2))])
    y = np.ones(50)
    for i in range(50):  # one row's clipped contribution: at most C, whatever its values
        assert np.linalg.norm(clipped_gradient_sum(np.zeros(3), a[i : i + 1], y[i : i + 1], 0.1)) <= 0.1 + 1e-12


def _admission(site: Path, job: str, budget: float | None) -> Admission:
    return Admission(
        job_id=job,
        site_id="site-1",
        dataset_id="site-1-cdm",
        site_folder=str(site),
        analysis_type="federated_training",
        requester="r",
        grant_id="grant-dp",
        max_rounds=50,
        rules=DisclosureRules(),
        epsilon_budget=budget,
    )


def test_dp_budget_refuses_the_round_beyond_the_grants_epsilon(tmp_path: Path) -> None:
    # Prepare: ε after 1 and 2 rounds of 5 full-batch steps at σ = 6; a budget between the two
    settings = DpSettings(noise_multiplier=6.0)
    one, two = epsilon_spent(settings, 5), epsilon_spent(settings, 10)
    budget = (one + two) / 2
    first = _admission(tmp_path, "train-a", budget)
    # Execute / Assert: round 1 fits, round 2 does not; refused before any record, audited by the caller's guard
    assert charge_round(first, settings, 5, 1) is not None
    before = budget_path(tmp_path).read_bytes()
    with pytest.raises(PrivacyBudgetRefusedError, match="would spend"):
        charge_round(first, settings, 5, 2)
    assert budget_path(tmp_path).read_bytes() == before and spent(tmp_path, "grant-dp") == pytest.approx(one)
    # a second job under the same grant starts from what the first spent
    with pytest.raises(PrivacyBudgetRefusedError, match="spent by earlier jobs"):
        charge_round(_admission(tmp_path, "train-b", budget), settings, 5, 1)
    # a grant with a budget refuses training without DP; a grant without one only accounts
    with pytest.raises(PrivacyBudgetRefusedError, match="without differential privacy"):
        charge_round(_admission(tmp_path, "train-c", budget), None, 5, 1)
    assert charge_round(_admission(tmp_path, "train-d", None), None, 5, 1) is None
    spends = [e for e in SiteAuditLog(tmp_path).entries() if e["event"] == "privacy.spend"]
    assert len(spends) == 1 and spends[0]["details"]["epsilon"] == pytest.approx(one, abs=1e-6)
