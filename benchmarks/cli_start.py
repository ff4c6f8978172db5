"""Cold start of `dari --help` (the console script in a fresh process) against the 1 s target of issue 15.

.venv/bin/python benchmarks/cli_start.py [RUNS]
Each run is a new `dari --help` process (byte-code cached, as after installation); prints wall and CPU time per run,
the best and the median beside the target, then the slowest imports of one run (`python -X importtime`).
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 1.0
DARI = Path(sys.executable).with_name("dari")


def _one_run(command: list[str] | None = None) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command or [str(DARI), "--help"], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _slowest_imports(count: int = 8) -> list[tuple[float, str]]:
    code = "import sys; sys.argv = ['dari', '--help']\nfrom dari.cli.app import main\n"
    code += "try: main()\nexcept SystemExit: pass"
    shown = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True).stderr
    rows = [re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line) for line in shown.splitlines()]
    top = [(int(m[1]) / 1e6, m[3]) for m in rows if m and not m[2]]  # top-level imports: cumulative seconds
    return sorted(top, reverse=True)[:count]


def main(runs: int = 10) -> None:
    """Print each run and the summary beside the target."""
    _one_run()  # byte-code compiled once, as an installed package has it
    results = [_one_run() for _ in range(runs)]
    for i, (wall, cpu) in enumerate(results, 1):
        print(f"run {i:2}: wall {wall:.3f} s, CPU {cpu:.3f} s")
    walls = [w for w, _ in results]
    cpus = [c for _, c in results]
    # The bare interpreter's start under the same load: what no change to dari can remove.
    bare = statistics.median(_one_run([sys.executable, "-c", "pass"])[0] for _ in range(runs))
    load = os.getloadavg()[0]
    print(f"dari --help, {runs} cold processes, load average {load:.1f} on {os.cpu_count()} cores")
    print(f"  wall best {min(walls):.3f} s, median {statistics.median(walls):.3f} s   (target < {TARGET_S:.1f} s)")
    print(f"  CPU  best {min(cpus):.3f} s, median {statistics.median(cpus):.3f} s")
    print(f"  bare `python -c pass`: wall median {bare:.3f} s")
    verdict = "met" if statistics.median(walls) < TARGET_S else "NOT met"
    print(f"  target {verdict} (median wall)")
    print("slowest top-level imports of one run (cumulative):")
    for seconds, module in _slowest_imports():
        print(f"  {seconds:.3f} s  {module}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
