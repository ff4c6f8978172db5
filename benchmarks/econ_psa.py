"""PSA benchmark: 10,000 iterations of a 4-state model, 75 annual cycles, 4 strategies — vectorised vs a plain loop.

Target: vectorised < 2 s on the 2-core reference machine. The loop baseline runs --loop-iterations (default 1,000)
and is scaled to --iterations; pass --loop-iterations 10000 for the full loop (minutes).
Run: .venv/bin/python benchmarks/econ_psa.py [--iterations 10000] [--loop-iterations 1000]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from dari.econ import evaluate, run_psa
from dari.econ.loader import parse_model
from dari.econ.params import sample


def model() -> dict[str, Any]:
    """Healthy → Sick → Severe → Dead; each strategy scales progression by its own relative risk and costs more."""
    strategies = {}
    for i, rr in enumerate((1.0, 0.85, 0.75, 0.65)):
        strategies[f"s{i}"] = {
            "transitions": {
                "H": {"H": "#", "S": f"p_hs * {rr}", "D": "m"},
                "S": {"S": "#", "X": f"p_sx * {rr}", "D": "m * 2"},
            },
            "state_costs": {"H": f"c_h + {i} * c_tx", "S": f"c_s + {i} * c_tx", "X": "c_x"},
        }
    return {
        "model": {"name": "bench", "horizon": 75, "counting": "half-cycle"},
        "parameters": {
            "p_hs": {"value": 0.05, "kind": "probability", "distribution": {"type": "beta", "mean": 0.05, "se": 0.01}},
            "p_sx": {"value": 0.1, "kind": "probability", "distribution": {"type": "beta", "mean": 0.1, "se": 0.02}},
            "m": {"value": 0.02, "kind": "probability", "distribution": {"type": "beta", "mean": 0.02, "se": 0.004}},
            "c_h": {"value": 1e5, "kind": "cost", "distribution": {"type": "gamma", "mean": 1e5, "se": 2e4}},
            "c_s": {"value": 1e6, "kind": "cost", "distribution": {"type": "gamma", "mean": 1e6, "se": 2e5}},
            "c_x": {"value": 1e7, "kind": "cost", "distribution": {"type": "gamma", "mean": 1e7, "se": 2e6}},
            "c_tx": {"value": 3e5, "kind": "cost"},
            "u_s": {"value": 0.7, "kind": "utility", "distribution": {"type": "beta", "mean": 0.7, "se": 0.05}},
        },
        "strategies": strategies,
        "markov": {
            "states": ["H", "S", "X", "D"],
            "dead": ["D"],
            "initial": {"H": 1},
            "transitions": {
                "H": {"H": "#", "S": "p_hs", "D": "m"},
                "S": {"S": "#", "X": "p_sx", "D": "m * 2"},
                "X": {"X": "#", "D": "0.2"},
                "D": {"D": 1},
            },
            "state_costs": {"H": "c_h", "S": "c_s", "X": "c_x"},
            "utilities": {"H": 1, "S": "u_s", "X": 0.4},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--loop-iterations", type=int, default=1_000, help="loop baseline size (scaled up)")
    args = parser.parse_args()
    spec = parse_model(model(), "bench")
    n = args.iterations

    t0 = time.perf_counter()
    res = run_psa(spec, n, seed=7, chunk=n)
    vec = time.perf_counter() - t0

    m = min(args.loop_iterations, n)
    values = sample(spec, n, np.random.default_rng(7))  # the same draws as the vectorised run
    t0 = time.perf_counter()
    loop_costs = np.empty((4, m))
    for i in range(m):  # the baseline: one model evaluation per iteration, as a naive implementation would do
        one = evaluate(spec, {k: v[i : i + 1] for k, v in values.items()})
        loop_costs[:, i] = [one[s].cost[0] for s in spec.strategies]
    loop = time.perf_counter() - t0
    assert np.allclose(loop_costs, res.costs[:, :m]), "loop and vectorised results differ"
    print(f"vectorised: {n:,} iterations × 75 cycles × 4 strategies in {vec:.2f} s")
    print(f"per-iteration loop: {m:,} iterations in {loop:.2f} s ({loop / m * n:.1f} s scaled to {n:,})")
    print(f"speed-up: {loop / m * n / vec:.0f}×")


if __name__ == "__main__":
    main()
