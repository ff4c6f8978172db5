"""Benchmark: generate a synthetic network and ETL it into the CDM; prints patients/s and peak memory.

Target on the 2-core reference machine: 3 × 100,000 patients in under 60 s and under 4 GiB.
Usage: .venv/bin/python benchmarks/synth.py [--sites 3] [--patients 100000] [--out DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from dari.synth.network import generate_network


def _peak_rss_gib() -> float:
    # ru_maxrss is in KiB on Linux; worker processes (if any) are counted through RUSAGE_CHILDREN
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / (1 << 20)


def main() -> None:
    """Run the benchmark once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="dari-bench-"))
    phases: dict[str, float] = {}
    marks = {"t": time.perf_counter()}

    def on_step(site: str, msg: str) -> None:
        now = time.perf_counter()
        print(f"  {now - start:6.1f} s  {site}: {msg}", flush=True)
        phases[f"{site} {msg}"] = now - marks["t"]
        marks["t"] = now

    start = time.perf_counter()
    results = generate_network(out, sites=args.sites, patients_per_site=args.patients, seed=args.seed, on_step=on_step)
    seconds = time.perf_counter() - start
    total = args.sites * args.patients
    rows = sum(sum(r.extract_rows.values()) for r in results)
    print(f"sites: {args.sites}, patients: {total:,}, extract rows: {rows:,}")
    print(f"wall time: {seconds:.1f} s  ({total / seconds:,.0f} patients/s, {rows / seconds:,.0f} rows/s)")
    print(f"peak memory (max RSS): {_peak_rss_gib():.2f} GiB")
    disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"on disk: {disk / (1 << 30):.2f} GiB under {out}")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
