"""Benchmark: multicenter validation end to end on Flower, side by side with a centralised scikit-learn evaluation.

1. End to end (the issue's target): 3 synthetic hospitals × 100,000 patients (generated once into --data), the
   reference model validated through Flower's simulation engine exactly as `dari validate` does (Ray start-up, grant
   check, CDM feature extraction, ONNX scoring, every site statistic with subgroups, disclosure control, the Newton
   rounds, pooling, meta-analysis), then the same rows read directly from the three CDMs, scored, and evaluated
   centrally with scikit-learn (AUROC, Brier) and statsmodels (calibration slope and intercept, GLM Binomial).
   Targets: federated < 30 s on 2 cores; federated ≤ 2 × centralised; pooled AUROC within 1e-3 and calibration slope
   within 1e-6 of the centralised values.
   Then the engine's floor: the same engine, in a fresh process, running one round of a ClientApp that does
   nothing (`--only engine-floor` alone): the part of the federated time no job can remove.
2. `evaluate` (every site statistic) on 100,000 rows.
3. Three hospitals × 20,000 simulated rows: federated pooling vs pooled rows over 10 random networks.
4. How the pooled AUROC's error grows as sites shrink.
Usage: .venv/bin/python benchmarks/validation.py [--patients 100000] [--data DIR] [--repeats 20]
                                               [--only end-to-end|statistics|engine-floor]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
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


def _network(data: Path, patients: int) -> list[Path]:
    """The synthetic network in `data` (generated when absent: about a minute for 3 × 100,000)."""
    from dari.synth.network import generate_network

    sites = [data / f"site-{i}" for i in (1, 2, 3)]
    if not all((s / "cdm.duckdb").is_file() for s in sites):
        print(f"generating 3 × {patients:,} synthetic patients into {data} …", flush=True)
        generate_network(data, sites=3, patients_per_site=patients, seed=7)
    return sites


def end_to_end(data: Path, patients: int, threshold: float = 0.2) -> None:
    """Federated validation on Flower's simulation engine vs centralised scikit-learn on the pooled rows."""
    import statsmodels.api as sm
    from sklearn.metrics import brier_score_loss, roc_auc_score

    from dari.federation.flower.grants import SyntheticOnlyGrantChecker
    from dari.federation.flower.simulation import run_validation
    from dari.federation.flower.site_work import score_site
    from dari.models import OnnxModel, load_spec
    from dari.models.reference import reference_model_paths

    sites = _network(data, patients)
    ref = reference_model_paths()
    checker = SyntheticOnlyGrantChecker({f"{s.name}-cdm": s for s in sites})
    marks: list[tuple[float, str]] = []
    start = time.perf_counter()
    run = run_validation(
        sites,
        ref.model,
        ref.spec,
        grant_checker=checker,
        requester="benchmark",
        threshold=threshold,
        progress=lambda msg: marks.append((time.perf_counter() - start, msg)),
        num_cpus=os.cpu_count() or 2,
    )
    federated_s = time.perf_counter() - start
    for at, msg in marks:
        print(f"  {at:6.2f} s  {msg}")
    if run.pooled is None or len(run.covered) != len(sites):
        raise SystemExit(f"not every site was covered: {run.covered}")

    start = time.perf_counter()
    spec = load_spec(ref.spec)
    model = OnnxModel.load(ref.model, spec=spec)
    scored = [score_site(s, model, spec) for s in sites]
    y = np.concatenate([c.y for c in scored]).astype(int)
    p = np.concatenate([c.p for c in scored])
    auroc = roc_auc_score(y, p)
    brier = brier_score_loss(y, p)
    lp = np.log(p / (1 - p))
    slope_fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-12)
    citl_fit = sm.GLM(y, np.ones_like(lp), family=sm.families.Binomial(), offset=lp).fit(tol=1e-12)
    centralised_s = time.perf_counter() - start

    fed = run.pooled
    rows = [
        ("n", fed.n, y.size),
        ("AUROC", fed.auroc.estimate, auroc),
        ("calibration slope", fed.calibration_slope.estimate, float(slope_fit.params[1])),
        ("calibration intercept", fed.citl.estimate, float(citl_fit.params[0])),
        ("Brier", fed.brier.brier, brier),
    ]
    print(f"3 × {patients:,} patients, {os.cpu_count()} cores, scored {y.size:,} rows ({int(y.sum()):,} events)")
    print(f"{'':24}{'federated':>16}{'centralised':>16}{'|difference|':>14}")
    for name, a, b in rows:
        print(f"{name:24}{float(a):>16.8f}{float(b):>16.8f}{abs(float(a) - float(b)):>14.1e}")
    print(
        f"time: federated (Flower simulation engine, end to end) {federated_s:.1f} s; centralised (read + score + "
        f"scikit-learn/statsmodels) {centralised_s:.1f} s; ratio {federated_s / centralised_s:.2f} "
        f"(targets: < 30 s, ≤ 2×)"
    )
    floor_s = _engine_floor_in_fresh_process()
    print(
        f"engine floor: the same simulation engine with a ClientApp that does nothing, one round to 3 nodes, in a "
        f"fresh process: {floor_s:.1f} s ({floor_s / centralised_s:.2f} × centralised); the validation job above it: "
        f"{federated_s - floor_s:.1f} s"
    )


def engine_floor(sites: int = 3) -> float:
    """Flower's simulation engine with a ClientApp that does nothing: one round to `sites` nodes, end to end (Ray
    start-up, the job's Ray workers, Flower's polling and shut-down). What no federated job here can go below."""
    from flwr.app import ConfigRecord, Context, Message, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp

    from dari.federation.flower.simulation import simulate

    server, client = ServerApp(), ClientApp()
    answered: list[int] = []

    @server.main()
    def _main(grid: Grid, context: Context) -> None:
        nodes = list(grid.get_node_ids())
        while len(nodes) < sites:
            time.sleep(0.1)
            nodes = list(grid.get_node_ids())
        record = RecordDict({"x": ConfigRecord({"ping": 1})})
        replies = grid.send_and_receive([Message(record, dst_node_id=n, message_type="query") for n in nodes])
        answered.append(sum(not r.has_error() for r in replies))

    @client.query()
    def _query(message: Message, context: Context) -> Message:
        return Message(RecordDict({"x": ConfigRecord({"pong": 1})}), reply_to=message)

    start = time.perf_counter()
    simulate(server, client, sites, os.cpu_count() or 2)
    seconds = time.perf_counter() - start
    if answered != [sites]:
        raise SystemExit(f"the no-op round was not answered by every node: {answered}")
    return seconds


def _engine_floor_in_fresh_process() -> float:
    """`engine_floor` in a new interpreter: Ray stays up after a simulation, so a second one in this process would
    not pay its start-up."""
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--only", "engine-floor"], check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1].split()[-2])


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
    parser.add_argument("--patients", type=int, default=100_000, help="patients per site (end to end)")
    parser.add_argument("--data", type=Path, default=None, help="where the synthetic network is (or is generated)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows for the statistics timing")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--only", choices=["end-to-end", "statistics", "engine-floor"], default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.only == "engine-floor":
        print(f"engine floor {engine_floor():.3f} s")
        return
    if args.only != "statistics":
        data = args.data or Path(tempfile.gettempdir()) / f"dari-bench-validation-3x{args.patients}"
        end_to_end(data, args.patients)
    if args.only != "end-to-end":
        time_evaluate(args.rows)
        realistic(10)
        by_site_size(args.repeats)


if __name__ == "__main__":
    main()
