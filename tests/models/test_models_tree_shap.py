"""TreeSHAP of ONNX tree ensembles: the trees read from the graph give shap's own values on the fitted object, add
up to the model's output, and a reading that does not reproduce ONNX Runtime is refused."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from dari.models.tree_shap import is_tree_ensemble, tree_explainer

warnings.filterwarnings("ignore", category=UserWarning)  # LightGBM and shap chatter about feature names


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1500, 5)).astype(np.float32)
    x[:, 4] = rng.integers(0, 2, size=1500)  # a yes/no input, as specs have
    y = (x[:, 0] + x[:, 1] * x[:, 2] + 0.8 * x[:, 4] + rng.normal(size=1500) > 0.3).astype(int)
    return x, y


def _probability(graph: onnx.ModelProto) -> Callable[[np.ndarray], np.ndarray]:
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        p = np.asarray(session.run(None, {name: np.asarray(x, np.float32)})[1])
        return p[:, 1] if p.ndim == 2 else p

    return run


def _fitted(kind: str, x: np.ndarray, y: np.ndarray) -> tuple[Any, onnx.ModelProto]:
    if kind == "lightgbm":
        import lightgbm as lgb
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        model = lgb.LGBMClassifier(n_estimators=40, num_leaves=8, verbose=-1).fit(x, y)
        types = [("input", FloatTensorType([None, x.shape[1]]))]
        return model, convert_lightgbm(model, initial_types=types, zipmap=False)
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    fitted = (
        GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0)
        if kind == "gradient-boosting"
        else RandomForestClassifier(n_estimators=25, max_depth=6, random_state=0)
    ).fit(x, y)
    return fitted, to_onnx(fitted, x[:1], options={id(fitted): {"zipmap": False}})


@pytest.mark.parametrize("kind", ["gradient-boosting", "random-forest", "lightgbm"])
def test_tree_shap_equals_shap_on_the_fitted_model(kind: str) -> None:
    import shap

    # Prepare
    x, y = _data()
    fitted, graph = _fitted(kind, x, y)
    background, rows = x[:25], x[100:110]
    # Execute
    explainer = tree_explainer(graph, background.tolist(), _probability(graph))
    assert explainer is not None
    ours = np.vstack([explainer.contributions(r) for r in rows])
    theirs = shap.TreeExplainer(
        fitted, data=background.astype(np.float64), feature_perturbation="interventional", model_output="raw"
    ).shap_values(rows.astype(np.float64))
    theirs = np.asarray(theirs)
    if theirs.ndim == 3:  # one array per class (random forest): class 1
        theirs = theirs[..., 1] if theirs.shape[-1] == 2 else theirs[1]
    # Assert: shap's values on the trained object, from the ONNX graph alone; additive to the raw output
    assert is_tree_ensemble(graph)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    raw = explainer.ensemble.raw(rows.astype(np.float64))
    np.testing.assert_allclose(ours.sum(axis=1) + explainer.expected_value, raw, atol=1e-9)
    np.testing.assert_allclose(
        explainer.ensemble.probability(rows.astype(np.float64)), _probability(graph)(rows), atol=1e-6
    )


def test_tree_shap_refuses_a_reading_onnx_runtime_does_not_confirm() -> None:
    # Prepare: the probability function disagrees with the trees (as a reading of the wrong class would)
    x, y = _data()
    _fitted_model, graph = _fitted("gradient-boosting", x, y)
    right = _probability(graph)
    # Execute
    explainer = tree_explainer(graph, x[:10].tolist(), lambda rows: 1.0 - right(rows))
    # Assert
    assert explainer is None


def test_tree_shap_refuses_splits_it_cannot_read() -> None:
    # Prepare: one split made an equality test, which the reading does not support
    x, y = _data()
    _fitted_model, graph = _fitted("gradient-boosting", x, y)
    node = next(n for n in graph.graph.node if n.op_type.startswith("TreeEnsemble"))
    modes = next(a for a in node.attribute if a.name == "nodes_modes")
    modes.strings[0] = b"BRANCH_EQ"
    # Execute / Assert
    assert tree_explainer(graph, x[:10].tolist(), _probability(_fitted("gradient-boosting", x, y)[1])) is None


def test_tree_shap_is_not_offered_for_a_linear_graph() -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    model = LogisticRegression().fit(x, y)
    graph = to_onnx(model, x[:1], options={id(model): {"zipmap": False}})
    assert not is_tree_ensemble(graph)
    assert tree_explainer(graph, x[:10].tolist(), _probability(graph)) is None
