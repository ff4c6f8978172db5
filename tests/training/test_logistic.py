"""The local update and its limit: FedAvg with one local step is centralised gradient descent, to rounding."""

from __future__ import annotations

import numpy as np

from dari.training import LogisticProblem, centralised_fit, local_update, log_loss, pooled_moments


def _data(n: int = 3000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    y = (rng.random(n) < 1 / (1 + np.exp(-(z @ [1.0, -0.5, 0.2, 0.0] - 1.0)))).astype(float)
    return z, y


def test_fedavg_with_one_local_step_is_centralised_gradient_descent() -> None:
    z, y = _data()
    parts = np.array_split(np.arange(len(y)), [700, 2000])  # unequal sites
    problem = LogisticProblem(l2=1e-3, local_steps=1)
    w_fed, w_central = np.zeros(5), np.zeros(5)
    for _ in range(30):
        w_fed = sum(len(i) * local_update(w_fed, z[i], y[i], problem) for i in parts) / len(y)
        w_central = local_update(w_central, z, y, problem)
    assert np.abs(w_fed - w_central).max() < 1e-12


def test_fedavg_with_local_steps_approaches_the_penalised_optimum() -> None:
    z, y = _data()
    parts = np.array_split(np.arange(len(y)), [700, 2000])
    optimum = centralised_fit(z, y, 1e-3)
    w = np.zeros(5)
    for _ in range(40):
        w = sum(len(i) * local_update(w, z[i], y[i], LogisticProblem(l2=1e-3)) for i in parts) / len(y)
    assert np.abs(w - optimum).max() < 5e-3
    assert log_loss(w, z, y, 1e-3) - log_loss(optimum, z, y, 1e-3) < 1e-5


def test_fedprox_keeps_a_site_near_the_global_model() -> None:
    z, y = _data(400)
    start = np.full(5, 0.3)
    free = local_update(start, z, y, LogisticProblem(local_steps=20))
    tied = local_update(start, z, y, LogisticProblem(local_steps=20, proximal_mu=10.0, learning_rate=0.05))
    assert np.linalg.norm(tied - start) < 0.5 * np.linalg.norm(free - start)


def test_pooled_moments_equal_the_pooled_rows() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(1, 2, size=(300, 3)), rng.normal(-1, 1, size=(500, 3))
    mean, scale = pooled_moments([(300, a.mean(0), a.var(0)), (500, b.mean(0), b.var(0))])
    both = np.vstack([a, b])
    assert np.allclose(mean, both.mean(0)) and np.allclose(scale, both.std(0))
