"""Gradient-boosted trees across sites with xgboost, as Flower's FedXgbBagging combines them.

Each round a site loads the global booster (xgboost's own JSON, travelling as bytes), grows `local_trees` new
trees on its rows from the global model's margin, and sends only those new trees; the hub appends every site's
trees to the global model (`flwr.serverapp.strategy.FedXgbBagging`). Every site trains with the same parameters
and the same base score (the pooled event rate from the admission round), so the trees of different sites add on
one margin scale. Before a tree leaves a site, every one of its leaves must hold at least the minimum cell of the
site's rows (`require_leaf_cells`): a leaf over fewer rows would publish a small group's mean outcome.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dari.disclosure import DisclosureRefusedError, DisclosureRules
from dari.errors import InputError


@dataclass(frozen=True)
class BoostingProblem:
    """The xgboost parameters every site of one training job grows its trees with."""

    max_depth: int = 3
    eta: float = 0.1
    local_trees: int = 1
    base_score: float = 0.5
    l2: float = 1.0
    min_child_weight: float = 1.0

    def params(self) -> dict[str, Any]:
        """xgboost's training parameters (single-threaded, exact histogram: a site's trees are reproducible)."""
        return {
            "objective": "binary:logistic",
            "max_depth": self.max_depth,
            "eta": self.eta,
            "lambda": self.l2,
            "min_child_weight": self.min_child_weight,
            "base_score": self.base_score,
            "tree_method": "hist",
            "nthread": 1,
            "seed": 0,
        }


def load_booster(model: bytes) -> Any:
    """An xgboost Booster from its JSON bytes (never a pickle); `InputError` when they are not one."""
    import xgboost

    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(model))
    except xgboost.core.XGBoostError as exc:
        raise InputError(f"not an xgboost JSON model: {str(exc).splitlines()[0][:200]}") from None
    return booster


def boosted_local_update(model: bytes, x: np.ndarray, y: np.ndarray, problem: BoostingProblem) -> bytes:
    """This site's new trees (JSON bytes), grown from the global model `model` (empty in the first round)."""
    import xgboost

    if x.shape[0] == 0:
        raise InputError("a local update needs at least one row")
    data = xgboost.DMatrix(x, label=y, nthread=1)
    if model:
        booster = load_booster(model)
        booster.set_param(problem.params())  # a saved model keeps no training parameters: set the job's again
        start = booster.num_boosted_rounds()
        for i in range(problem.local_trees):
            booster.update(data, start + i)
        new = booster[start : start + problem.local_trees]
    else:
        new = xgboost.train(problem.params(), data, num_boost_round=problem.local_trees)
    return bytes(new.save_raw("json"))


def require_leaf_cells(trees: bytes, x: np.ndarray, rules: DisclosureRules) -> None:
    """Refuse trees with a leaf over fewer than the minimum cell of this site's rows (or a non-finite leaf)."""
    import xgboost

    check_trees(trees, x.shape[1])
    leaves = load_booster(trees).predict(xgboost.DMatrix(x, nthread=1), pred_leaf=True)
    leaves = leaves.reshape(x.shape[0], -1)
    for t in range(leaves.shape[1]):
        _ids, counts = np.unique(leaves[:, t], return_counts=True)
        if counts.min() < rules.min_cell:
            raise DisclosureRefusedError(f"a leaf of tree {t} holds fewer than {rules.min_cell} rows")


def check_trees(trees: bytes, n_features: int) -> int:
    """The number of trees in a booster's JSON after checking it as the hub does: parsable, finite, right width."""
    try:
        doc = json.loads(trees)
        learner = doc["learner"]
        width = int(learner["learner_model_param"]["num_feature"])
        model = learner["gradient_booster"]["model"]
        values = [float(v) for tree in model["trees"] for v in tree["base_weights"] + tree["split_conditions"]]
        count = int(model["gbtree_model_param"]["num_trees"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not an xgboost tree model ({type(exc).__name__})") from None
    if width != n_features:
        raise InputError(f"the trees read {width} features, the job has {n_features}")
    if not all(math.isfinite(v) for v in values):
        raise InputError("the trees hold a value that is not finite")
    return count


def boosted_predict(model: bytes, x: np.ndarray) -> np.ndarray:
    """Predicted risk of the trees for raw rows (no standardisation: trees split on the inputs' own scale)."""
    import xgboost

    return np.asarray(load_booster(model).predict(xgboost.DMatrix(x, nthread=1)), dtype=np.float64)


def centralised_boosted(x: np.ndarray, y: np.ndarray, problem: BoostingProblem, trees: int) -> bytes:
    """The same trees grown on the pooled rows (the limit for a federated boosted model)."""
    import xgboost

    data = xgboost.DMatrix(x, label=y, nthread=1)
    return bytes(xgboost.train(problem.params(), data, num_boost_round=trees).save_raw("json"))
