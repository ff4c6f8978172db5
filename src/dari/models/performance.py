"""Discrimination and calibration of a risk model on labelled rows (for the model card's figures).

* AUROC: P(risk of a random event > risk of a random non-event), ties counting half; computed as the
  Mann–Whitney U statistic from mid-ranks: (R₁ − n₁(n₁+1)/2) / (n₁·n₀), R₁ the rank sum of the events.
* Calibration slope b and calibration-in-the-large a (Cox 1958; Steyerberg, Clinical Prediction Models, ch. 15):
  logit P(y) = a' + b·lp fitted by maximum likelihood gives b; logit P(y) = a + lp (lp as offset) gives a.
  Ideal: b = 1, a = 0. b < 1 means predictions too extreme (overfitting or transport to another setting).
* O/E = Σy / Σp; Brier = mean (p − y)².

An undefined statistic (one class only) is None, never an exception: a small site must not stop a report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-12


@dataclass(frozen=True)
class Scores:
    """The figures of one evaluation."""

    n: int
    events: int
    auroc: float | None
    calibration_slope: float | None
    calibration_in_the_large: float | None
    observed_expected: float | None
    brier: float | None


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 − p)), with p kept off 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.asarray(np.log(q / (1 - q)))


def fit_logistic(design: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray | None:
    """Maximum-likelihood logistic coefficients by Newton–Raphson; None if it does not converge."""
    d = np.asarray(design, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    off = np.zeros(t.size) if offset is None else np.asarray(offset, dtype=np.float64)
    beta = np.zeros(d.shape[1])
    for _ in range(100):
        eta = off + d @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = mu * (1 - mu)
        hessian = d.T @ (d * w[:, None])
        try:
            step = np.linalg.solve(hessian, d.T @ (t - mu))
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            return beta
    return None


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their mean rank (scipy's rankdata 'average', without importing scipy.stats)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    bounds = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1], True])
    sizes = np.diff(bounds)
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(bounds[:-1] + (sizes + 1) / 2, sizes)
    return ranks


def auroc(p: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann–Whitney); None when only one class is present."""
    obs = np.asarray(y, dtype=bool)
    n1 = int(obs.sum())
    n0 = obs.size - n1
    if n1 == 0 or n0 == 0:
        return None
    ranks = _midranks(np.asarray(p, dtype=np.float64))
    return float((ranks[obs].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def score(p: np.ndarray, y: np.ndarray) -> Scores:
    """AUROC, calibration slope and intercept, O/E and Brier of predicted risks `p` against outcomes `y`."""
    prob = np.asarray(p, dtype=np.float64)
    obs = np.asarray(y, dtype=bool)
    n, events = int(obs.size), int(obs.sum())
    if n == 0:
        return Scores(0, 0, None, None, None, None, None)
    brier = float(np.mean((prob - obs) ** 2))
    expected = float(prob.sum())
    oe = events / expected if expected > 0 else None
    if events in (0, n):
        return Scores(n, events, None, None, None, oe, brier)
    lp = logit(prob)
    slope = fit_logistic(np.column_stack([np.ones(n), lp]), obs)
    citl = fit_logistic(np.ones((n, 1)), obs, offset=lp)
    return Scores(
        n=n,
        events=events,
        auroc=auroc(prob, obs),
        calibration_slope=None if slope is None else float(slope[1]),
        calibration_in_the_large=None if citl is None else float(citl[0]),
        observed_expected=oe,
        brier=brier,
    )
