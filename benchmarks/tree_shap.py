"""Benchmark: TreeSHAP per CDS call for a tree-ensemble model read from ONNX (`dari.models.tree_shap`).

A scikit-learn gradient-boosting model (200 trees of depth 4, 10 inputs) on synthetic rows, exported with skl2onnx;
the explainer built against 8 and 100 reference rows; 300 single-row explanations timed each.
Usage: .venv/bin/python benchmarks/tree_shap.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier

from dari.models.tree_shap import tree_explainer


def main() -> None:
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 10)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=3000) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=200, max_depth=4, random_state=0).fit(x, y)
    graph = to_onnx(model, x[:1], options={id(model): {"zipmap": False}})
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def probability(rows: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: rows.astype(np.float32)})[1])[:, 1]

    for k in (8, 100):
        start = time.perf_counter()
        explainer = tree_explainer(graph, x[:k].tolist(), probability)
        build = time.perf_counter() - start
        if explainer is None:
            raise SystemExit("the trees were not read")
        times = []
        for row in x[:300]:
            start = time.perf_counter()
            explainer.contributions(row)
            times.append(time.perf_counter() - start)
        print(
            f"200 trees of depth 4, 10 inputs, {k} reference rows: explainer built in {build:.2f} s (the first "
            f"includes importing shap); per call p50 {np.median(times) * 1e3:.2f} ms, "
            f"p99 {np.percentile(times, 99) * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()
