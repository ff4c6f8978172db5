"""Uncertainty benchmark on Briggs's THR model (examples/thr_briggs.toml): PSA with correlated draws and EVPPI.

Targets (issue 16): PSA of 10,000 iterations (60 cycles, 2 strategies, 5 correlated Weibull coefficients) < 1 s;
EVPPI for the model's 3 parameter groups (regression on the same 10,000 draws) < 5 s. Prints best and mean of
--repeats runs (wall clock, and this process's CPU time, which a loaded machine inflates less) beside each
target, and checks that the PSA is bit-identical for two chunk sizes.
Run: .venv/bin/python benchmarks/econ_thr_uncertainty.py [--iterations 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path

import numpy as np

from dari.econ import load_model, run_psa
from dari.econ.analysis import evppi_groups


def main() -> None:
    """Time the PSA and the EVPPI and print them beside the targets."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = load_model(Path(str(resources.files("dari.econ") / "examples" / "thr_briggs.toml")))
    run_psa(spec, 200, seed=1)  # warm-up: imports, first allocations
    psa_s, psa_cpu, evppi_s, evppi_cpu = [], [], [], []
    for r in range(args.repeats):
        start, cpu = time.perf_counter(), time.process_time()
        psa = run_psa(spec, args.iterations, seed=r)
        psa_s.append(time.perf_counter() - start)
        psa_cpu.append(time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        values = evppi_groups(spec, psa, 2200.0)
        evppi_s.append(time.perf_counter() - start)
        evppi_cpu.append(time.process_time() - cpu)
    other = run_psa(spec, args.iterations, seed=args.repeats - 1, chunk=777)
    same = np.array_equal(other.costs, psa.costs) and np.array_equal(other.qalys, psa.qalys)
    print(f"PSA {args.iterations:,} iterations × {spec.model.horizon} cycles × {len(spec.strategies)} strategies:")
    print(
        f"  wall best {min(psa_s):.3f} s, mean {np.mean(psa_s):.3f} s; CPU best {min(psa_cpu):.3f} s   (target < 1 s)"
    )
    print(f"EVPPI of {len(values)} groups at λ = 2,200: " + ", ".join(f"{k} {v:.2f}" for k, v in values.items()))
    print(
        f"  wall best {min(evppi_s):.3f} s, mean {np.mean(evppi_s):.3f} s; CPU best {min(evppi_cpu):.3f} s"
        "   (target < 5 s)"
    )
    print(f"chunk 1000 vs 777 bit-identical: {same}")


if __name__ == "__main__":
    main()
