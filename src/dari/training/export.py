"""A trained logistic model as dari ships models: the same ONNX pipeline and linear terms as the reference model.

The federated parameters are set on a scikit-learn `StandardScaler` + `LogisticRegression` pipeline (no fitting:
the attributes only) so `dari.models.reference.export_onnx` writes the ONNX graph every dari model uses (input
`input` float [N, d], output `probabilities` [N, 2]) and `linear_model_of` gives the spec's exact linear terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dari.models.feature_spec import FeatureSpec, LinearModel


def pipeline_of(w: Sequence[float], mean: Sequence[float], scale: Sequence[float]) -> Any:
    """A fitted-looking scikit-learn pipeline holding the federated parameters."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    d = len(mean)
    scaler = StandardScaler()
    scaler.mean_ = np.asarray(mean, dtype=np.float64)
    scaler.scale_ = np.asarray(scale, dtype=np.float64)
    scaler.var_ = scaler.scale_**2
    scaler.n_features_in_ = d
    scaler.n_samples_seen_ = 1
    clf = LogisticRegression()
    clf.coef_ = np.asarray([list(w)[1:]], dtype=np.float64)
    clf.intercept_ = np.asarray([w[0]], dtype=np.float64)
    clf.classes_ = np.array([0, 1])
    clf.n_features_in_ = d
    return Pipeline([("scale", scaler), ("logit", clf)])


def export_model(
    w: Sequence[float], mean: Sequence[float], scale: Sequence[float], spec: FeatureSpec
) -> tuple[bytes, LinearModel]:
    """ONNX bytes and the exact linear terms of a trained model on the spec's inputs."""
    from dari.models.reference import export_onnx, linear_model_of

    pipe = pipeline_of(w, mean, scale)
    return export_onnx(pipe, len(spec.feature_names)), linear_model_of(pipe, spec)
