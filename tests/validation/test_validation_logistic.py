"""Federated Newton–Raphson for calibration slope and CITL: equal to the pooled-row fit; records validate."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from pydantic import ValidationError
from validation_sites import pooled, realistic_network

from dari.disclosure import DisclosureRefusedError, DisclosureRules
from dari.validation import LogisticParams, LogisticStepStats, fit_pooled_logistic, site_logistic_step
from dari.validation.logistic import OffsetMode, fit_rows


@pytest.mark.parametrize("mode", ["slope", "citl"])
def test_federated_fit_equals_pooled_rows_fit(mode: OffsetMode) -> None:
    # Prepare
    sites = realistic_network(seed=2, n=5000)
    y, s = pooled(sites)
    queries: list[LogisticParams] = []

    def query_sites(params: LogisticParams) -> list[LogisticStepStats]:
        queries.append(params)
        return [site_logistic_step(sy, ss, params, mode) for sy, ss in sites]

    # Execute
    federated = fit_pooled_logistic(query_sites, mode)
    central = fit_rows(y, s, mode)
    # Assert
    assert federated.converged and central.converged
    assert federated.intercept == pytest.approx(central.intercept, abs=1e-10)
    assert federated.slope == pytest.approx(central.slope, abs=1e-10)
    assert federated.covariance == pytest.approx(central.covariance, rel=1e-9)
    assert (federated.n, federated.events) == (y.size, int(y.sum()))
    assert len(queries) == federated.iterations <= 12
    if mode == "citl":
        assert all(q.slope == 1.0 for q in queries)


def test_site_step_refuses_small_cells_without_naming_the_count() -> None:
    y = np.array([1] * 4 + [0] * 100)
    s = np.linspace(0.01, 0.99, y.size)
    with pytest.raises(DisclosureRefusedError, match="fewer than 10 events") as err:
        site_logistic_step(y, s, LogisticParams(intercept=0, slope=1), "slope")
    assert "4" not in str(err.value)
    site_logistic_step(y, s, LogisticParams(intercept=0, slope=1), "slope", DisclosureRules(min_cell=3))


def test_hub_rejects_an_answer_to_another_round() -> None:
    y, s = realistic_network(seed=1, n=500)[0]
    stale = site_logistic_step(y, s, LogisticParams(intercept=0.3, slope=1.0), "slope")
    with pytest.raises(ValueError, match="different round"):
        fit_pooled_logistic(lambda params: [stale], "slope")


def _valid_step() -> dict[str, object]:
    return {
        "offset_mode": "slope",
        "params": {"intercept": 0.0, "slope": 1.0},
        "n": 100,
        "events": 20,
        "score": (1.0, -2.0),
        "information": (16.0, -20.0, 60.0),
        "log_likelihood": -50.0,
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"n": -1},
        {"n": True},
        {"n": 10.5},
        {"events": 101},
        {"score": (float("nan"), 0.0)},
        {"information": (16.0, 40.0, 60.0)},  # not positive semi-definite
        {"information": (-1.0, 0.0, 1.0)},
        {"log_likelihood": 1.0},
        {"offset_mode": "citl", "params": {"intercept": 0.0, "slope": 2.0}},
        {"params": {"intercept": 0.0, "slope": float("inf")}},
        {"params": {"intercept": 500.0, "slope": 1.0}},
        {"extra": 1},
    ],
)
def test_step_record_rejects_bad_values(bad: dict[str, object]) -> None:
    LogisticStepStats.model_validate(_valid_step())
    with pytest.raises(ValidationError):
        LogisticStepStats.model_validate(_valid_step() | bad)


def test_fit_of_one_class_is_nan_with_warning() -> None:
    with pytest.warns(UserWarning, match="both events and non-events"):
        fit = fit_rows([0] * 50, np.linspace(0.1, 0.9, 50), "citl")
    assert not fit.converged and math.isnan(fit.intercept)


def test_overconfident_model_fits_in_steps_a_site_accepts() -> None:
    """Over-confident scores (logits spread ±15, true slope 0.3, intercept -3: an imaging model at a scanner it
    was not trained on) once took a Newton step of 7.8 logit units from (0, 1), beyond MAX_STEP, and every such
    site refused the round: the imaging validation's sites all dropped out of calibration."""
    import statsmodels.api as sm

    from dari.federation.flower.calibration import MAX_STEP
    from dari.validation.logistic import logistic_step_sums, logit, newton_fit

    # Prepare: true logit = 0.3 × the score's logit − 3, i.e. scores far more extreme than the outcomes
    rng = np.random.default_rng(4)
    lp = rng.normal(0.0, 6.0, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(0.3 * lp - 3.0)))).astype(float)
    s = 1 / (1 + np.exp(-lp))
    fit, asked = newton_fit("slope"), []
    params = next(fit)
    # Execute
    try:
        while True:
            asked.append(params)
            params = fit.send([logistic_step_sums(y, logit(s), params, "slope")])
    except StopIteration as done:
        result = done.value
    # Assert: every round within what a site accepts, and the same MLE as statsmodels' GLM
    jumps = [max(abs(b.intercept - a.intercept), abs(b.slope - a.slope)) for a, b in itertools.pairwise(asked)]
    assert result.converged and max(jumps) <= MAX_STEP
    glm = sm.GLM(y, sm.add_constant(logit(s)), family=sm.families.Binomial()).fit()
    assert result.slope == pytest.approx(glm.params[1], abs=1e-6)
    assert result.intercept == pytest.approx(glm.params[0], abs=1e-6)
