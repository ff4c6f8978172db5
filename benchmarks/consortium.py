"""Benchmark: jobs on the local consortium (Flower's deployment engine kept up), beside the centralised evaluation.

Issue 18, deliverable 7 and its targets, in one run:
1. per-round overhead on the deployment engine on loopback < 1 s: each Newton round of a validation job, as the
   hub's executor timed it, minus the slowest site's own work in that round (as each site's executor timed it);
2. on the local consortium already up, `dari validate` of 3 × N end to end ≤ 2 × the centralised evaluation in
   the same run (the `dari validate` process itself, its Python start-up included; and the job alone, submitted
   from a warm process);
3. a feasibility count < 2 s (the `dari feasibility` process, and the job alone).
The consortium's start-up (`dari consortium up`) is printed too; it is paid once, not per job.
Usage: .venv/bin/python benchmarks/consortium.py [--patients 100000] [--data DIR]
(on a loaded machine, run --patients 20000 and say so: the figures scale with the load, not only the rows).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from importlib import resources
from pathlib import Path

import numpy as np

THRESHOLD = 0.5  # the CLI's default: every run releases the same figures (the ledger refuses near-duplicates)


def _network(data: Path, patients: int) -> list[Path]:
    """The synthetic network in `data` (generated when absent), its release ledgers emptied (benchmark data)."""
    from dari.federation.ledger import LEDGER_DIR
    from dari.synth.network import generate_network

    sites = [data / f"site-{i}" for i in (1, 2, 3)]
    if not all((s / "cdm.duckdb").is_file() for s in sites):
        print(f"generating 3 × {patients:,} synthetic patients into {data} …", flush=True)
        generate_network(data, sites=3, patients_per_site=patients, seed=7)
    for s in sites:
        for f in (s / LEDGER_DIR).glob("*"):
            f.unlink()
    return sites


def _centralised(sites: list[Path]) -> tuple[float, float]:
    """Wall and CPU seconds of what `dari validate --centralised` computes: read, score, evaluate the pooled rows."""
    from dari.cli.validate import centralised_rows
    from dari.models.reference import reference_model_paths
    from dari.validation import ValidationSpec, centralised_pooled_metrics

    ref = reference_model_paths()
    start, cpu = time.perf_counter(), time.process_time()
    rows = centralised_rows(sites, ref.model, ref.spec)
    y, p = np.concatenate([r.y for _, r in rows]), np.concatenate([r.p for _, r in rows])
    centralised_pooled_metrics(y, p, ValidationSpec(threshold=THRESHOLD), sites=len(sites))
    return time.perf_counter() - start, time.process_time() - cpu


def _log_lines(path: Path, offset: int, pattern: str) -> list[float]:
    text = path.read_text(encoding="utf-8", errors="replace")[offset:]
    return [float(m) for m in re.findall(pattern, text)]


def _round_overheads(run_dir: Path, offsets: dict[str, int], sites: list[str]) -> list[float]:
    """Each round's time at the hub minus the slowest site's work in it (the rounds after the first)."""
    logs = run_dir / "logs"
    rounds = [
        a + b
        for a, b in re.findall(
            r"round: push ([\d.]+) s, replies after ([\d.]+) s",
            (logs / "hub-executor.log").read_text(encoding="utf-8")[offsets["hub-executor"] :],
        )
        for a, b in [(float(a), float(b))]
    ]
    work = [_log_lines(logs / f"executor-{s}.log", offsets[s], r"site work ([\d.]+) s") for s in sites]
    per_round = [max(w) for w in zip(*work, strict=False)]
    return [r - w for r, w in zip(rounds, per_round, strict=False)][1:]  # round 1 is the validate round: its own


def _offsets(run_dir: Path, sites: list[str]) -> dict[str, int]:
    logs = run_dir / "logs"
    sizes = {s: len((logs / f"executor-{s}.log").read_text(encoding="utf-8", errors="replace")) for s in sites}
    sizes["hub-executor"] = len((logs / "hub-executor.log").read_text(encoding="utf-8", errors="replace"))
    return sizes


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far: a figure the machine's load does not inflate."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _cli(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one `dari` process, and its stderr."""
    dari = str(Path(sys.executable).parent / "dari")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([dari, *args], capture_output=True, env=env, check=False)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"dari {args[0]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return took, cpu, done.stderr.decode(errors="replace")


def main() -> None:
    """Bring a local consortium up over 3 synthetic sites, time the jobs on it, print each beside its target."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000, help="patients per site")
    parser.add_argument("--data", type=Path, default=None, help="where the synthetic network is (or is generated)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from dari.federation.consortium import jobs, local
    from dari.models.reference import reference_model_paths

    data = args.data or Path(tempfile.gettempdir()) / f"dari-bench-validation-3x{args.patients}"
    sites = _network(data, args.patients)
    ids = [s.name for s in sites]
    load = os.getloadavg()[0]
    central_s, central_cpu = _centralised(sites)
    run_dir = Path(tempfile.mkdtemp(prefix="dari-bench-consortium-"))
    env = {**os.environ, local.ENV_DIR: str(run_dir)}
    start = time.perf_counter()
    state = local.up(sites, run_dir)
    up_s = time.perf_counter() - start
    try:
        ref = reference_model_paths()
        job_s, pids = [], [p.pid for p in state.processes]
        for _ in range(2):  # the first after an idle spell polls slowly at first (pacing.Pacer)
            offsets = _offsets(run_dir, ids)
            start, cpu_before = time.perf_counter(), _cpu_s(pids) + time.process_time()
            run = jobs.validate_on(state, sites, ref.model, ref.spec, requester="benchmark", threshold=THRESHOLD)
            job_s.append(time.perf_counter() - start)
            job_cpu = _cpu_s(pids) + time.process_time() - cpu_before
            if len(run.covered) != len(sites):
                raise SystemExit(f"not every site was covered: {run.covered} {[r.reason for r in run.sites.values()]}")
        overheads = _round_overheads(run_dir, offsets, ids)
        site_args = [a for s in sites for a in ("--sites", str(s))]
        cli_s, cli_cpu, cli_err = _cli(["validate", *site_args, "--json", str(run_dir / "v.json")], env)
        definition = Path(str(resources.files("dari.cohort") / "examples" / "ckd_g3.json"))
        start = time.perf_counter()
        jobs.query_on(state, sites, "feasibility", definition, requester="benchmark")
        feas_job_s = time.perf_counter() - start
        feas_cli_s, feas_cli_cpu, _ = _cli(["feasibility", "--definition", str(definition), *site_args], env)
    finally:
        local.stop(state)
    n_rounds = len(overheads)
    print(f"3 × {args.patients:,} patients, {os.cpu_count()} cores, load average {load:.1f} at the start")
    print(f"local consortium up (once, not per job): {up_s:.1f} s")
    print(
        f"centralised evaluation (read + score + statistics on the pooled rows): {central_s:.2f} s "
        f"(CPU {central_cpu:.2f} s)"
    )
    if overheads:
        print(
            f"per-round overhead on the deployment engine ({n_rounds} Newton rounds): median "
            f"{float(np.median(overheads)):.2f} s, max {max(overheads):.2f} s   (target < 1 s)"
        )
    engine = next((ln for ln in cli_err.splitlines() if "federated (" in ln), "").strip()
    print(
        f"dari validate on the consortium, end to end (its process, Python start-up included): {cli_s:.1f} s = "
        f"{cli_s / central_s:.2f} × centralised   (target ≤ 2×)  [{engine[:90]}]; its own CPU {cli_cpu:.1f} s"
    )
    print(
        f"the validation job alone, from a warm process: {min(job_s):.1f} s (first {job_s[0]:.1f} s) = "
        f"{min(job_s) / central_s:.2f} × centralised; CPU of every consortium process and the submitter: "
        f"{job_cpu:.1f} s = {job_cpu / central_cpu:.2f} × the centralised CPU"
    )
    print(
        f"feasibility count: dari feasibility end to end {feas_cli_s:.1f} s (its own CPU {feas_cli_cpu:.1f} s); "
        f"the job alone {feas_job_s:.2f} s   (target < 2 s)"
    )


if __name__ == "__main__":
    main()
