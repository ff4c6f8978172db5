"""Drift detection fires on a shifted stream and stays quiet on an unshifted one."""

from __future__ import annotations

import numpy as np
import pytest

from dari.errors import InputError
from dari.monitoring.drift import DriftThresholds, drift, population_stability_index, reference_distribution


def test_drift_quiet_on_same_distribution() -> None:
    rng = np.random.default_rng(1)
    ref = reference_distribution("egfr", rng.normal(45, 8, 20_000))
    result = drift(ref, rng.normal(45, 8, 2_000))
    assert not result.drifted and result.verdict == "stable"
    assert result.psi is not None and result.psi < 0.02


def test_drift_fires_on_shifted_stream() -> None:
    rng = np.random.default_rng(2)
    ref = reference_distribution("egfr", rng.normal(45, 8, 20_000))
    result = drift(ref, rng.normal(38, 8, 2_000))
    assert result.drifted and result.psi is not None and result.psi > 0.25
    assert result.ks_p is not None and result.ks_p < 1e-10


def test_psi_matches_hand_computation() -> None:
    ref = reference_distribution("x", np.repeat([1.0, 2.0, 3.0, 4.0], 25), bins=4)
    # edges at the quartiles; current puts half its mass in the top bin
    current = np.array([1.0] * 10 + [2.0] * 20 + [3.0] * 20 + [4.0] * 50)
    expected_shares = np.array(ref.shares)
    actual = np.array([0.1, 0.2, 0.2, 0.5])
    manual = float(np.sum((actual - expected_shares) * np.log(actual / expected_shares)))
    assert population_stability_index(ref, current) == pytest.approx(manual)


def test_drift_no_verdict_on_few_values_and_bad_reference() -> None:
    ref = reference_distribution("score", np.linspace(0, 1, 1000))
    assert drift(ref, [0.5] * 10, DriftThresholds(min_current=50)).verdict.startswith("too few")
    with pytest.raises(InputError, match="at least 10"):
        reference_distribution("score", [0.1, float("nan")])
