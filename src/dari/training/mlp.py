"""A small multilayer perceptron in NumPy (one tanh hidden layer, logistic output): FedAvg/FedProx's local update.

Parameters travel as one flat vector `θ = [W₁ (h×d, row-major), b₁ (h), w₂ (h), b₂]` so the same Flower
strategies (FedAvg, FedProx, FedTrimmedAvg, Krum) average an MLP exactly as they average a logistic model. A
site's objective is its mean log-loss plus `l2/2·(‖W₁‖² + ‖w₂‖²)`; FedProx adds `μ/2·‖θ − θ_global‖²`. The local
update is full-batch gradient descent (deterministic: an update is a function of the cohort and the broadcast
model). With one local step and updates weighted by n, FedAvg is centralised gradient descent on the pooled rows,
as for the logistic model (tested), although the objective is no longer convex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dari.errors import InputError
from dari.training.logistic import LogisticProblem

FloatArray = np.ndarray


@dataclass(frozen=True)
class MlpShape:
    """Inputs and hidden units of the network: the layout of its flat parameter vector."""

    inputs: int
    hidden: int

    @property
    def size(self) -> int:
        """Length of the flat parameter vector."""
        return self.hidden * self.inputs + 2 * self.hidden + 1

    def unpack(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, float]:
        """W₁, b₁, w₂, b₂ from the flat vector."""
        if theta.shape != (self.size,):
            raise InputError(f"MLP parameters must have {self.size} values, got shape {theta.shape}")
        h, d = self.hidden, self.inputs
        w1 = theta[: h * d].reshape(h, d)
        b1 = theta[h * d : h * d + h]
        w2 = theta[h * d + h : h * d + 2 * h]
        return w1, b1, w2, float(theta[-1])


def initial_parameters(shape: MlpShape, seed: int = 0) -> FloatArray:
    """Glorot-scaled start, the same at the hub for every run with this seed (sites never draw their own)."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, np.sqrt(1.0 / shape.inputs), size=(shape.hidden, shape.inputs))
    w2 = rng.normal(0.0, np.sqrt(1.0 / shape.hidden), size=shape.hidden)
    return np.concatenate([w1.ravel(), np.zeros(shape.hidden), w2, [0.0]])


def _sigmoid(t: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * t)))


def predict(theta: FloatArray, z: FloatArray, shape: MlpShape) -> FloatArray:
    """Predicted risk for standardised rows."""
    w1, b1, w2, b2 = shape.unpack(theta)
    return _sigmoid(np.tanh(z @ w1.T + b1) @ w2 + b2)


def mlp_loss(theta: FloatArray, z: FloatArray, y: FloatArray, shape: MlpShape, l2: float = 0.0) -> float:
    """Mean log-loss plus the L2 penalty on the weights (not the biases)."""
    w1, b1, w2, b2 = shape.unpack(theta)
    t = np.tanh(z @ w1.T + b1) @ w2 + b2
    return float((np.logaddexp(0.0, t) - y * t).mean() + 0.5 * l2 * (float((w1**2).sum()) + float(w2 @ w2)))


def mlp_gradient(theta: FloatArray, z: FloatArray, y: FloatArray, shape: MlpShape, l2: float) -> FloatArray:
    """Gradient of `mlp_loss` by backpropagation (checked against finite differences in the tests)."""
    w1, b1, w2, b2 = shape.unpack(theta)
    hidden = np.tanh(z @ w1.T + b1)
    residual = (_sigmoid(hidden @ w2 + b2) - y) / z.shape[0]  # d loss / d logit, per row
    g_w2 = hidden.T @ residual + l2 * w2
    g_b2 = residual.sum()
    back = np.outer(residual, w2) * (1.0 - hidden**2)
    g_w1 = back.T @ z + l2 * w1
    g_b1 = back.sum(axis=0)
    return np.concatenate([g_w1.ravel(), g_b1, g_w2, [g_b2]])


def mlp_local_update(
    theta_global: FloatArray, z: FloatArray, y: FloatArray, shape: MlpShape, problem: LogisticProblem
) -> FloatArray:
    """A site's parameters after `local_steps` gradient steps from the global network (FedProx when μ > 0)."""
    if z.shape[0] == 0:
        raise InputError("a local update needs at least one row")
    theta = np.array(theta_global, dtype=np.float64)
    for _ in range(problem.local_steps):
        grad = mlp_gradient(theta, z, y, shape, problem.l2)
        if problem.proximal_mu > 0:
            grad += problem.proximal_mu * (theta - theta_global)
        theta -= problem.learning_rate * grad
    return theta
