"""The NumPy MLP: its gradient against finite differences, FedAvg = centralised GD, its ONNX graph = its maths."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from dari.training import LogisticProblem
from dari.training.export import export_mlp
from dari.training.mlp import MlpShape, initial_parameters, mlp_gradient, mlp_local_update, mlp_loss, predict


def _data(n: int = 600, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-(z[:, 0] * z[:, 1] + z[:, 2])))).astype(float)  # an interaction
    return z, y


def test_mlp_gradient_matches_finite_differences() -> None:
    # Prepare
    z, y = _data(200)
    shape = MlpShape(3, 4)
    theta = initial_parameters(shape, 1) + 0.05
    # Execute
    grad = mlp_gradient(theta, z, y, shape, l2=0.01)
    eps = 1e-6
    numeric = np.array(
        [
            (mlp_loss(theta + eps * e, z, y, shape, 0.01) - mlp_loss(theta - eps * e, z, y, shape, 0.01)) / (2 * eps)
            for e in np.eye(shape.size)
        ]
    )
    # Assert
    assert np.abs(grad - numeric).max() < 1e-7


def test_fed_mlp_fedavg_with_one_local_step_is_centralised_gradient_descent() -> None:
    z, y = _data()
    shape = MlpShape(3, 5)
    parts = np.array_split(np.arange(len(y)), [150, 400])
    problem = LogisticProblem(l2=1e-3, local_steps=1, learning_rate=0.5)
    fed = central = initial_parameters(shape, 0)
    for _ in range(25):
        fed = sum(len(i) * mlp_local_update(fed, z[i], y[i], shape, problem) for i in parts) / len(y)
        central = mlp_local_update(central, z, y, shape, problem)
    assert np.abs(fed - central).max() < 1e-12
    assert mlp_loss(central, z, y, shape) < mlp_loss(initial_parameters(shape, 0), z, y, shape)


def test_fed_mlp_onnx_scores_like_its_parameters() -> None:
    shape = MlpShape(3, 6)
    theta = initial_parameters(shape, 4) + 0.1
    mean, scale = [50.0, 1.0, -2.0], [10.0, 0.5, 3.0]
    x = np.random.default_rng(5).normal(mean, scale, size=(100, 3))
    session = ort.InferenceSession(export_mlp(theta, mean, scale, 6))
    (got,) = session.run(["probabilities"], {"input": x.astype(np.float32)})
    expected = predict(theta, (x - mean) / np.asarray(scale), shape)
    assert got.shape == (100, 2) and np.abs(got[:, 1] - expected).max() < 1e-5
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-6)
