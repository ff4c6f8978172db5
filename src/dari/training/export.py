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


def export_mlp(theta: Sequence[float], mean: Sequence[float], scale: Sequence[float], hidden: int) -> bytes:
    """The MLP as ONNX on raw inputs: standardise, tanh layer, logistic output; `probabilities` [N, 2]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from dari.models.reference import ONNX_OPSET
    from dari.training.mlp import MlpShape

    shape = MlpShape(inputs=len(mean), hidden=hidden)
    w1, b1, w2, b2 = shape.unpack(np.asarray(theta, dtype=np.float64))

    def const(name: str, value: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)

    inits = [
        const("mean", np.asarray(mean)),
        const("scale", np.asarray(scale)),
        const("w1", w1.T),
        const("b1", b1),
        const("w2", w2.reshape(-1, 1)),
        const("b2", np.array([b2])),
        const("one", np.array([1.0])),
    ]
    nodes = [
        helper.make_node("Sub", ["input", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["z"]),
        helper.make_node("MatMul", ["z", "w1"], ["a1"]),
        helper.make_node("Add", ["a1", "b1"], ["a1b"]),
        helper.make_node("Tanh", ["a1b"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["a2"]),
        helper.make_node("Add", ["a2", "b2"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "dari_federated_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, shape.inputs])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET[""])])
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def export_boosted(trees: bytes, n_features: int) -> bytes:
    """The xgboost trees as ONNX (onnxmltools): input `input` float [N, d], output `probabilities` [N, 2]."""
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    from dari.training.boosted import load_booster

    onx = convert_xgboost(
        load_booster(trees),
        name="dari_federated_boosted_trees",
        initial_types=[("input", FloatTensorType([None, n_features]))],
        target_opset=15,  # the highest onnxmltools 1.16 converts xgboost at
    )
    return bytes(onx.SerializeToString())
