"""Benchmark: generate a synthetic network and ETL it into the CDM; prints patients/s and peak memory.

Target on the 2-core reference machine: 3 × 100,000 patients in under 60 s and under 4 GiB.
Usage: .venv/bin/python benchmarks/synth.py [--sites 3] [--patients 100000] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

from dari.synth.network import generate_network


def _peak_rss_gib() -> float:
    # ru_maxrss is in KiB on Linux; for children it is the largest single child, not their sum
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / (1 << 20)


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of a process and all its descendants, summed (Linux /proc)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parent.items() if pp == pid and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class _MemorySampler(threading.Thread):
    """Samples the summed RSS of this process tree every 0.25 s; `peak` holds the largest sum seen."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.peak = max(self.peak, _tree_rss_bytes(os.getpid()))


def main() -> None:
    """Run the benchmark once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per site)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="dari-bench-"))
    phases: dict[str, float] = {}
    marks = {"t": time.perf_counter()}

    def on_step(site: str, msg: str) -> None:
        now = time.perf_counter()
        print(f"  {now - start:6.1f} s  {site}: {msg}", flush=True)
        phases[f"{site} {msg}"] = now - marks["t"]
        marks["t"] = now

    sampler = _MemorySampler()
    sampler.start()
    start = time.perf_counter()
    results = generate_network(
        out, sites=args.sites, patients_per_site=args.patients, seed=args.seed, on_step=on_step, workers=args.workers
    )
    seconds = time.perf_counter() - start
    total = args.sites * args.patients
    rows = sum(sum(r.extract_rows.values()) for r in results)
    print(f"sites: {args.sites}, patients: {total:,}, extract rows: {rows:,}")
    print(f"wall time: {seconds:.1f} s  ({total / seconds:,.0f} patients/s, {rows / seconds:,.0f} rows/s)")
    sampler.stop.set()
    print(
        f"peak memory: {sampler.peak / (1 << 30):.2f} GiB summed over all processes "
        f"(largest single process {_peak_rss_gib():.2f} GiB)"
    )
    disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"on disk: {disk / (1 << 30):.2f} GiB under {out}")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
