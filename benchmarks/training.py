"""Benchmark: federated logistic training on the synthetic network beside its limit and each site alone.

Three synthetic sites (they differ in case mix and lab units, as `dari synth` makes them). Printed side by side,
per evaluation site: the AUROC of each site's local-only model (trained on that site alone, evaluated where it was
not trained), of the federated model (Flower's simulation engine, FedAvg and FedProx through the site guard:
`dari.federation.flower.train_simulation.run_training`), and of the centralised model on the pooled rows (the
limit: `dari.training.centralised_fit`). Targets (issue 18): federated within 0.005 AUROC of centralised, above
every local-only model at the other sites; 3 sites × 100,000 patients, 20 rounds of FedAvg end to end < 60 s.

Usage: .venv/bin/python benchmarks/training.py [--patients 100000] [--data DIR] [--rounds 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from dari.federation.flower.grants import SyntheticOnlyGrantChecker
from dari.federation.flower.train_simulation import build_training, run_training
from dari.federation.flower.train_site import admit_training
from dari.federation.guard import SiteBinding
from dari.models.reference import reference_model_paths
from dari.training import centralised_fit, pooled_moments, standardise
from dari.validation import UndefinedMetricWarning, auroc

TARGET_GAP, TARGET_S = 0.005, 60.0


def _auc(w: np.ndarray, mean: list[float], scale: list[float], x: np.ndarray, y: np.ndarray) -> float:
    z = standardise(x, mean, scale)
    p = 1 / (1 + np.exp(-(np.hstack([np.ones((len(y), 1)), z]) @ w)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return float(auroc(y == 1.0, p).estimate)


def main() -> None:
    """Generate (or reuse) the network, train three ways, print AUROC per site and the federated run's time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dari-train-bench-") as tmp:
        data = args.data or Path(tmp) / "data"
        sites = [data / f"site-{k}" for k in (1, 2, 3)]
        if not all((s / "cdm.duckdb").is_file() for s in sites):
            from dari.synth.network import generate_network

            print(f"generating 3 × {args.patients:,} synthetic patients into {data} …", flush=True)
            generate_network(data, sites=3, patients_per_site=args.patients, seed=7)
        checker = SyntheticOnlyGrantChecker({f"{s.name}-cdm": str(s) for s in sites})
        spec = reference_model_paths().spec
        results = {}
        for strategy in ("fedavg", "fedprox"):
            request = build_training(sites, spec, requester="bench", strategy=strategy, rounds=args.rounds)
            started = time.perf_counter()
            run = run_training(sites, request, grant_checker=checker)
            results[strategy] = (run, time.perf_counter() - started)
        # The rows the limit and the local-only models need (synthetic sites: read here, never in a real network).
        reading = build_training(sites, spec, requester="bench")
        rows = {}
        for s in sites:
            binding = SiteBinding(site_id=s.name, folder=str(s))
            _stats, cohort, _ = admit_training(reading, binding, checker)
            assert cohort is not None
            rows[s.name] = (cohort.x, cohort.y)
    x_all = np.vstack([x for x, _ in rows.values()])
    y_all = np.concatenate([y for _, y in rows.values()])
    run0 = results["fedavg"][0]
    mean, scale = list(run0.mean), list(run0.scale)
    central = centralised_fit(standardise(x_all, mean, scale), y_all, reading.l2)
    local = {}
    for name, (x, y) in rows.items():
        m, sc = pooled_moments([(len(y), x.mean(0), x.var(0))])
        local[name] = (centralised_fit(standardise(x, m, sc), y, reading.l2), m, sc)
    print(
        f"\nAUROC by evaluation site ({args.rounds} rounds; rows: "
        + ", ".join(f"{k} {len(v[1]):,}" for k, v in rows.items())
        + ")"
    )
    header = (
        f"{'site':<8}" + "".join(f"{'local ' + k:>14}" for k in rows) + f"{'FedAvg':>10}{'FedProx':>10}{'central':>10}"
    )
    print(header)
    worst_gap, beats_local = 0.0, True
    for name, (x, y) in rows.items():
        cells = [_auc(w, m, sc, x, y) for w, m, sc in local.values()]
        fed = {k: _auc(np.asarray(r.weights), list(r.mean), list(r.scale), x, y) for k, (r, _) in results.items()}
        lim = _auc(central, mean, scale, x, y)
        worst_gap = max(worst_gap, *(abs(v - lim) for v in fed.values()))
        others = [c for c, k in zip(cells, rows, strict=True) if k != name]
        beats_local &= all(fed["fedavg"] >= c for c in others)
        print(
            f"{name:<8}"
            + "".join(f"{c:>14.4f}" for c in cells)
            + f"{fed['fedavg']:>10.4f}{fed['fedprox']:>10.4f}{lim:>10.4f}"
        )
    print(f"largest |federated − centralised| AUROC: {worst_gap:.4f} (target ≤ {TARGET_GAP})")
    print(f"FedAvg above every local-only model at the other sites: {'yes' if beats_local else 'NO'}")
    for k, (_, seconds) in results.items():
        print(
            f"{k}: {args.rounds} rounds end to end on the simulation engine {seconds:.1f} s (target < {TARGET_S:.0f} s)"
        )


if __name__ == "__main__":
    main()
