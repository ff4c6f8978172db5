"""xgboost trees across sites: each round's new trees only, appended by Flower's bagging, every leaf ≥ min_cell."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from flwr.serverapp.strategy.strategy_utils import aggregate_bagging

from dari.disclosure import DisclosureRefusedError, DisclosureRules
from dari.errors import InputError
from dari.training.boosted import (
    BoostingProblem,
    boosted_local_update,
    boosted_predict,
    centralised_boosted,
    check_trees,
    require_leaf_cells,
)
from dari.training.export import export_boosted


def _data(n: int = 2000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 + rng.normal(size=n) > 0.5).astype(float)
    return x, y


def test_fed_boosted_rounds_append_each_sites_new_trees() -> None:
    # Prepare: two sites, three rounds of FedXgbBagging's aggregation (Flower's own function)
    x, y = _data()
    sites = [(x[:800], y[:800]), (x[800:], y[800:])]
    problem = BoostingProblem(eta=0.3, min_child_weight=2.5)
    model = b""
    # Execute
    for _ in range(3):
        updates = [boosted_local_update(model, xs, ys, problem) for xs, ys in sites]
        assert all(check_trees(u, 4) == 1 for u in updates)  # only the round's new tree leaves the site
        for u in updates:
            model = aggregate_bagging(model, u)
    # Assert: six trees, better than chance, and the ONNX graph scores as xgboost does
    assert check_trees(model, 4) == 6
    p = boosted_predict(model, x)
    assert np.corrcoef(p, y)[0, 1] > 0.3
    (got,) = ort.InferenceSession(export_boosted(model, 4)).run(["probabilities"], {"input": x.astype(np.float32)})
    assert np.abs(got[:, 1] - p).max() < 1e-5
    assert check_trees(centralised_boosted(x, y, problem, 6), 4) == 6


def test_fed_boosted_leaves_below_the_minimum_cell_are_refused() -> None:
    x, y = _data(400)
    loose = boosted_local_update(b"", x, y, BoostingProblem(max_depth=6, eta=0.3, min_child_weight=0.01))
    with pytest.raises(DisclosureRefusedError, match="fewer than 10 rows"):
        require_leaf_cells(loose, x, DisclosureRules(min_cell=10))
    tight = boosted_local_update(b"", x, y, BoostingProblem(max_depth=6, eta=0.3, min_child_weight=10 / 4))
    require_leaf_cells(tight, x, DisclosureRules(min_cell=10))  # the site's setting makes the check pass


def test_fed_boosted_trees_of_another_width_or_not_finite_are_refused() -> None:
    x, y = _data(300)
    trees = boosted_local_update(b"", x, y, BoostingProblem())
    with pytest.raises(InputError, match="read 4 features, the job has 5"):
        check_trees(trees, 5)
    poisoned = trees.replace(b'"base_weights":[', b'"base_weights":[NaN,', 1)
    with pytest.raises(InputError):
        check_trees(poisoned, 4)
    with pytest.raises(InputError, match="not an xgboost"):
        check_trees(b"not json", 4)
