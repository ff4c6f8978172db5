"""Benchmark: validation statistics of one site, and pooled metrics from sufficient statistics vs pooled rows.

1. `evaluate` (every site statistic) on 100,000 rows: target well under 1 s on the 2-core reference machine.
2. Three hospitals × 20,000 rows: the federated pooled AUROC, calibration slope and CITL against the centralised
   computation on the pooled rows (targets 1e-3 and 1e-6), and the time of both.
3. How the pooled AUROC's error grows as sites shrink (random networks of 3 sites per row of the table).
Usage: .venv/bin/python benchmarks/validation.py [--rows 100000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "validation"))
from validation_sites import make_site, pooled, realistic_network

from dari.validation import (
    ValidationSpec,
    centralised_pooled_metrics,
    evaluate,
    federated_pooled_metrics,
)


def time_evaluate(rows: int) -> None:
    y, s = make_site(np.random.default_rng(1), rows)
    evaluate(y, s)
    best = min(_timed(lambda: evaluate(y, s)) for _ in range(5))
    print(f"evaluate, {rows:,} rows: {best:.3f} s (best of 5)")


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def realistic(seeds: int) -> None:
    worst = {"auroc": 0.0, "slope": 0.0, "citl": 0.0}
    fed_s = cen_s = 0.0
    spec = ValidationSpec(threshold=0.2)
    for seed in range(seeds):
        sites = realistic_network(seed)
        y, s = pooled(sites)
        start = time.perf_counter()
        fed = federated_pooled_metrics(sites, spec)
        fed_s += time.perf_counter() - start
        start = time.perf_counter()
        cen = centralised_pooled_metrics(y, s, spec, sites=3)
        cen_s += time.perf_counter() - start
        worst["auroc"] = max(worst["auroc"], abs(fed.auroc.estimate - cen.auroc.estimate))
        worst["slope"] = max(worst["slope"], abs(fed.calibration_slope.estimate - cen.calibration_slope.estimate))
        worst["citl"] = max(worst["citl"], abs(fed.citl.estimate - cen.citl.estimate))
    print(
        f"3 × 20,000 rows, {seeds} networks: largest |federated − centralised| AUROC {worst['auroc']:.1e}, "
        f"slope {worst['slope']:.1e}, CITL {worst['citl']:.1e}; "
        f"federated {fed_s / seeds:.2f} s, centralised {cen_s / seeds:.2f} s per network"
    )


def by_site_size(repeats: int) -> None:
    print("pooled AUROC error by site size (3 sites, random case mix; max and median |error| over networks)")
    print("rows/site  prevalence  scores               max       median")
    rng = np.random.default_rng(0)
    for n, prevalence in [(2000, 0.05), (2000, 0.2), (5000, 0.1), (20000, 0.02), (20000, 0.1)]:
        for decimals, declared in [(None, False), (3, False), (2, False), (2, True)]:
            errors = []
            spec = ValidationSpec(score_decimals=decimals if declared else None)
            for _ in range(repeats):
                sites = [
                    make_site(
                        rng,
                        n,
                        shift=rng.uniform(-3, -1),
                        spread=rng.uniform(0.6, 1.5),
                        prevalence=prevalence * rng.uniform(0.7, 1.3),
                        separation=rng.uniform(0.8, 2.5),
                        decimals=decimals,
                    )
                    for _ in range(3)
                ]
                y, s = pooled(sites)
                fed = federated_pooled_metrics(sites, spec)
                cen = centralised_pooled_metrics(y, s, spec)
                errors.append(abs(fed.auroc.estimate - cen.auroc.estimate))
            kind = "continuous" if decimals is None else f"{decimals} decimals" + (" declared" if declared else "")
            print(f"{n:>9,}  {prevalence:>10.2f}  {kind:<19}  {max(errors):.1e}   {np.median(errors):.1e}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    time_evaluate(args.rows)
    realistic(10)
    by_site_size(args.repeats)


if __name__ == "__main__":
    main()
