"""SHAP values for tree-ensemble models that arrive as ONNX (ai.onnx.ml `TreeEnsembleClassifier` or
`TreeEnsembleRegressor`, as skl2onnx and onnxmltools write LightGBM, XGBoost and scikit-learn ensembles).

A vendor's model is ONNX, never a pickle, so shap's `TreeExplainer` cannot be given the trained object. This module
reads the ensemble's nodes from the graph into shap's documented dictionary form (`{"trees": [...]}`) and lets shap
compute interventional TreeSHAP against reference rows the feature spec declares (`explanation_background`): each
value is the feature's exact Shapley share of the model's raw output (log-odds after a LOGISTIC transform,
probability without one) relative to the reference rows. ONNX keeps no node covers, which path-dependent TreeSHAP
needs; the interventional form needs none. Only the reading of the ONNX attributes is written here.

Converters encode a binary classifier differently (one score column or two, a base value or none), so the reading
is accepted only when the trees reproduce ONNX Runtime's probabilities on rows mixed from the reference rows; a
model whose trees cannot be read that way is served without contributions, never with wrong ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import onnx
from onnx import helper, numpy_helper

from dari.errors import InputError

TREE_OPS = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")
AGREEMENT = 1e-5  # probability difference allowed between the trees read here and ONNX Runtime (float32 arithmetic)
_MODES = {b"BRANCH_LEQ", b"BRANCH_LT", b"BRANCH_GTE", b"BRANCH_GT", b"LEAF"}


@dataclass(frozen=True)
class _Ensemble:
    """An ensemble's trees in shap's dictionary form, the transform of their summed output and the base value."""

    trees: list[dict[str, np.ndarray]]
    base: float
    transform: Literal["logistic", "none"]

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The summed tree output plus the base value for each row (what shap explains)."""
        out = np.full(x.shape[0], self.base)
        for tree in self.trees:
            node = np.zeros(x.shape[0], dtype=np.int64)
            while True:
                left = tree["children_left"][node]
                inner = left >= 0
                if not inner.any():
                    break
                rows = np.flatnonzero(inner)
                at = node[rows]
                value = x[rows, tree["features"][at]]
                go_left = np.where(
                    np.isnan(value), tree["children_default"][at] == left[rows], value <= tree["thresholds"][at]
                )
                node[rows] = np.where(go_left, left[rows], tree["children_right"][at])
            out += tree["values"][node, 0]
        return out

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(outcome) from the raw output."""
        raw = self.raw(x)
        return 1.0 / (1.0 + np.exp(-raw)) if self.transform == "logistic" else raw


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        values[attribute.name] = numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else value
    return values


def _array(a: dict[str, Any], name: str) -> np.ndarray:
    if f"{name}_as_tensor" in a:
        return np.asarray(a[f"{name}_as_tensor"], dtype=np.float64)
    return np.asarray(a.get(name, []), dtype=np.float64)


def _trees(a: dict[str, Any], prefix: str, leaf_class: int | None) -> list[dict[str, np.ndarray]]:
    """Each tree's nodes renumbered 0…n−1; leaf values of one output (`leaf_class`, or every target when None)."""
    tree_ids = np.asarray(a["nodes_treeids"], dtype=np.int64)
    node_ids = np.asarray(a["nodes_nodeids"], dtype=np.int64)
    features = np.asarray(a["nodes_featureids"], dtype=np.int64)
    thresholds = _array(a, "nodes_values").astype(np.float32)
    modes = [m if isinstance(m, bytes) else str(m).encode() for m in a["nodes_modes"]]
    true_ids = np.asarray(a["nodes_truenodeids"], dtype=np.int64)
    false_ids = np.asarray(a["nodes_falsenodeids"], dtype=np.int64)
    missing_true = np.asarray(a.get("nodes_missing_value_tracks_true", [0] * len(node_ids)), dtype=np.int64)
    unknown = sorted(m.decode() for m in set(modes) - _MODES)
    if unknown:
        raise InputError(f"tree nodes with modes {unknown} cannot be explained (numeric splits only)")
    w_tree = np.asarray(a[f"{prefix}_treeids"], dtype=np.int64)
    w_node = np.asarray(a[f"{prefix}_nodeids"], dtype=np.int64)
    w_id = np.asarray(a[f"{prefix}_ids"], dtype=np.int64)
    weights = _array(a, f"{prefix}_weights")
    if leaf_class is not None:
        keep = w_id == leaf_class
        w_tree, w_node, weights = w_tree[keep], w_node[keep], weights[keep]
    leaf_value: dict[tuple[int, int], float] = {}
    for t, n, w in zip(w_tree.tolist(), w_node.tolist(), weights.tolist(), strict=True):
        leaf_value[(t, n)] = leaf_value.get((t, n), 0.0) + w
    out = []
    for tree in sorted(set(tree_ids.tolist())):
        rows = np.flatnonzero(tree_ids == tree)
        index = {int(node_ids[r]): i for i, r in enumerate(rows)}
        size = len(rows)
        left, right, default = (np.full(size, -1, dtype=np.int64) for _ in range(3))
        feature = np.zeros(size, dtype=np.int64)
        threshold = np.zeros(size, dtype=np.float64)
        value = np.zeros((size, 1), dtype=np.float64)
        for i, r in enumerate(rows):
            mode = modes[r]
            if mode == b"LEAF":
                value[i, 0] = leaf_value.get((tree, int(node_ids[r])), 0.0)
                continue
            yes, no = index[int(true_ids[r])], index[int(false_ids[r])]
            t32 = np.float32(thresholds[r])
            # shap goes left when x <= threshold; the inputs are float32, so x < t is x <= the float below t
            if mode == b"BRANCH_LEQ":
                cut, lo, hi = t32, yes, no
            elif mode == b"BRANCH_LT":
                cut, lo, hi = np.nextafter(t32, np.float32(-np.inf)), yes, no
            elif mode == b"BRANCH_GT":
                cut, lo, hi = t32, no, yes
            else:  # BRANCH_GTE: x >= t is not (x <= the float below t)
                cut, lo, hi = np.nextafter(t32, np.float32(-np.inf)), no, yes
            left[i], right[i], feature[i], threshold[i] = lo, hi, features[r], float(cut)
            default[i] = yes if missing_true[r] else no
        out.append(
            {
                "children_left": left,
                "children_right": right,
                "children_default": default,
                "features": feature,
                "thresholds": threshold,
                "values": value,
                "node_sample_weight": np.ones(size, dtype=np.float64),  # unused by the interventional algorithm
            }
        )
    return out


def _candidates(model: onnx.ModelProto) -> list[_Ensemble]:
    """The readings of the graph's one tree-ensemble node that could be P(class 1)."""
    nodes = [n for n in model.graph.node if n.op_type in TREE_OPS]
    if len(nodes) != 1:
        return []
    node = nodes[0]
    a = _attributes(node)
    base_values = _array(a, "base_values").tolist()
    post = a.get("post_transform", b"NONE")
    post = post.decode() if isinstance(post, bytes) else str(post)
    if post not in ("NONE", "LOGISTIC"):
        return []
    transform: Literal["logistic", "none"] = "logistic" if post == "LOGISTIC" else "none"
    if node.op_type == "TreeEnsembleRegressor":
        if str(a.get("aggregate_function", b"SUM")).strip("b'") != "SUM":
            return []
        return [_Ensemble(_trees(a, "target", None), sum(base_values[:1]), transform)]
    ids = set(np.asarray(a["class_ids"], dtype=np.int64).tolist())
    found = []
    for leaf_class in sorted(ids & {0, 1}, reverse=True):
        base = base_values[leaf_class] if len(base_values) > leaf_class else 0.0
        found.append(_Ensemble(_trees(a, "class", leaf_class), base, transform))
    return found


class TreeShapExplainer:
    """Interventional TreeSHAP of an ONNX tree ensemble against reference rows (model-input space)."""

    def __init__(self, ensemble: _Ensemble, background: np.ndarray) -> None:
        import shap  # imported only for tree models: it brings numba

        self.ensemble = ensemble
        model = {"trees": ensemble.trees, "base_offset": ensemble.base, "tree_output": "raw_value"}
        self._explainer = shap.TreeExplainer(
            model, data=background, feature_perturbation="interventional", model_output="raw"
        )
        self.expected_value = float(np.ravel(self._explainer.expected_value)[0])

    def contributions(self, row: np.ndarray) -> np.ndarray:
        """Each feature's SHAP value for one row; they sum to raw(row) − expected_value."""
        values = self._explainer.shap_values(np.asarray(row, dtype=np.float64).reshape(1, -1), check_additivity=False)
        return np.asarray(values, dtype=np.float64).reshape(-1)


def tree_explainer(
    model: onnx.ModelProto, background: Sequence[Sequence[float]], onnx_probability: Any
) -> TreeShapExplainer | None:
    """A TreeSHAP explainer when the graph is one tree ensemble whose reading reproduces ONNX Runtime's
    probabilities (`onnx_probability(x) -> P(class 1)`) on rows mixed from the reference rows; else None."""
    reference = np.asarray(background, dtype=np.float64)
    if reference.ndim != 2 or reference.shape[0] == 0:
        return None
    rng = np.random.default_rng(0)
    # Every reference row, and rows that take each feature from a random reference row: the points the
    # interventional algorithm itself evaluates.
    picks = rng.integers(0, reference.shape[0], size=(64, reference.shape[1]))
    probe = np.vstack([reference, reference[picks, np.arange(reference.shape[1])]]).astype(np.float32)
    expected = np.asarray(onnx_probability(probe), dtype=np.float64)
    try:
        candidates = _candidates(model)
    except InputError:  # splits this reading does not know (categorical, equality): no explanation
        return None
    for ensemble in candidates:
        try:
            got = ensemble.probability(probe.astype(np.float64))
        except (IndexError, KeyError):
            continue
        if got.shape == expected.shape and float(np.max(np.abs(got - expected))) <= AGREEMENT:
            return TreeShapExplainer(ensemble, reference)
    return None


def is_tree_ensemble(model: onnx.ModelProto) -> bool:
    """Whether the graph holds an ai.onnx.ml tree-ensemble node."""
    return any(n.op_type in TREE_OPS for n in model.graph.node)
