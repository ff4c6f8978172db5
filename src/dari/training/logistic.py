"""L2-penalised logistic regression on standardised inputs: the local update every site runs, and the limit.

Parameters are one vector `w = [intercept, β…]` on inputs standardised with the consortium's pooled mean and
scale. A site's objective is its mean log-loss plus `l2/2·‖β‖²`; FedProx adds `μ/2·‖w − w_global‖²` so a site
cannot drift far from the round's global model. The local update is full-batch gradient descent for a fixed
number of steps — deterministic, so a site's update is a function of its cohort and the broadcast model only.
With one local step and updates weighted by each site's n, FedAvg is exactly centralised gradient descent on the
pooled rows (tested); `centralised_fit` (Newton–Raphson to convergence) is the physical limit a federated model is
measured against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dari.errors import InputError

FloatArray = np.ndarray


@dataclass(frozen=True)
class LogisticProblem:
    """Penalty and local optimisation settings shared by every site of one training job."""

    l2: float = 1e-4
    local_steps: int = 5
    learning_rate: float = 1.0
    proximal_mu: float = 0.0


def _design(z: FloatArray) -> FloatArray:
    return np.hstack([np.ones((z.shape[0], 1)), z])


def _sigmoid(t: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * t)))  # overflow-free


def log_loss(w: FloatArray, z: FloatArray, y: FloatArray, l2: float = 0.0) -> float:
    """Mean log-loss of the model on standardised rows, plus the L2 penalty on the slopes."""
    t = _design(z) @ w
    loss = np.logaddexp(0.0, t) - y * t
    return float(loss.mean() + 0.5 * l2 * float(w[1:] @ w[1:]))


def _gradient(w: FloatArray, a: FloatArray, y: FloatArray, l2: float) -> FloatArray:
    grad = a.T @ (_sigmoid(a @ w) - y) / a.shape[0]
    grad[1:] += l2 * w[1:]
    return np.asarray(grad)


def local_update(w_global: FloatArray, z: FloatArray, y: FloatArray, problem: LogisticProblem) -> FloatArray:
    """A site's new parameters after `local_steps` gradient steps from the global model (FedProx when μ > 0)."""
    if z.shape[0] == 0:
        raise InputError("a local update needs at least one row")
    a, w = _design(z), np.array(w_global, dtype=np.float64)
    for _ in range(problem.local_steps):
        grad = _gradient(w, a, y, problem.l2)
        if problem.proximal_mu > 0:
            grad += problem.proximal_mu * (w - w_global)
        w -= problem.learning_rate * grad
    return w


def centralised_fit(z: FloatArray, y: FloatArray, l2: float, *, tol: float = 1e-10, max_iter: int = 100) -> FloatArray:
    """The penalised optimum on pooled rows by Newton–Raphson (the limit for a federated fit)."""
    a = _design(z)
    w = np.zeros(a.shape[1])
    penalty = np.full(a.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(max_iter):
        p = _sigmoid(a @ w)
        grad = a.T @ (p - y) / a.shape[0] + penalty * w
        hess = (a * (p * (1 - p))[:, None]).T @ a / a.shape[0] + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < tol:
            break
    return w


def standardise(x: FloatArray, mean: Sequence[float], scale: Sequence[float]) -> FloatArray:
    """Rows on the consortium's common scale."""
    return np.asarray((x - np.asarray(mean)) / np.asarray(scale))


def pooled_moments(
    sites: Sequence[tuple[float, Sequence[float], Sequence[float]]],
) -> tuple[list[float], list[float]]:
    """The pooled mean and standard deviation from each site's (weight, mean, variance) per feature."""
    weights = np.array([w for w, _, _ in sites], dtype=np.float64)
    means = np.array([m for _, m, _ in sites], dtype=np.float64)
    variances = np.array([v for _, _, v in sites], dtype=np.float64)
    total = weights.sum()
    mean = weights @ means / total
    # law of total variance: within-site variance plus the spread of the site means
    var = (weights @ (variances + (means - mean) ** 2)) / total
    scale = np.where(var > 0, np.sqrt(var), 1.0)
    return mean.tolist(), scale.tolist()
