"""Research pod sandbox: start-up time, and an analysis over 100,000 patients' measurements in and out of it.

    .venv/bin/python benchmarks/pods.py [patients] [repeats] [SITE]

With SITE (a site folder, e.g. from `dari synth`), it also times building the pod's view of that site's CDM
(person + measurement: column selection, k-anonymity at k = 5, Parquet) — the per-run cost before the sandbox.

Targets (issue 20): sandbox start < 1 s; the analysis within 1.2× of the same script outside the sandbox. Both
runs read the same Parquet file (bind-mounted read-only inside, read in place outside) with the same
interpreter; runs alternate in/out so load drifts hit both alike. Output checks on 100 files (< 5 s) belong to
part 2 (airlock) and are not measured here.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dari.pods.models import PodLimits
from dari.pods.sandbox import Mounts, run_sandboxed

ANALYSIS = """
import os, time, duckdb
t = time.perf_counter()
data, out = os.environ["DARI_POD_DATA"], os.environ["DARI_POD_OUTPUTS"]
con = duckdb.connect()
con.execute(f'''COPY (
  WITH s AS (SELECT person_id,
             regr_slope(value_as_number, date_diff('day', DATE '2015-01-01', measurement_date) / 365.25) AS slope,
             count(*) AS n FROM '{data}/measurement.parquet' GROUP BY person_id HAVING count(*) >= 3)
  SELECT round(slope / 5) * 5 AS slope_band, count(*) AS persons FROM s GROUP BY 1 ORDER BY 1
) TO '{out}/slopes.csv' ''')
print(f"{time.perf_counter() - t:.3f}")
"""


def _data(folder: Path, patients: int) -> int:
    rng = np.random.default_rng(20)
    per = rng.poisson(12, patients) + 1
    person = np.repeat(np.arange(1, patients + 1), per)
    n = len(person)
    days = rng.integers(0, 3650, n)
    value = np.round(90 - 2.0 * days / 365.25 + rng.normal(0, 8, n), 3)
    table = pa.table(
        {
            "measurement_id": np.arange(1, n + 1, dtype=np.int32),
            "person_id": person.astype(np.int32),
            "measurement_concept_id": np.full(n, 3049187, np.int32),
            "measurement_date": (np.datetime64("2015-01-01") + days.astype("timedelta64[D]")).astype("datetime64[D]"),
            "value_as_number": value,
        }
    )
    pq.write_table(table, folder / "measurement.parquet")
    return n


def main(patients: int = 100_000, repeats: int = 9) -> None:
    root = Path(tempfile.mkdtemp(prefix="dari-pod-bench-"))
    code, data, outputs = root / "code", root / "data", root / "outputs"
    for folder in (code, data, outputs):
        folder.mkdir()
        folder.chmod(0o755)
    root.chmod(0o755)
    rows = _data(data, patients)
    (code / "main.py").write_text(ANALYSIS)
    python = str(Path(sys.prefix) / "bin" / "python")
    limits = PodLimits(wall_s=600, cpu_s=600)
    mounts = Mounts(code=code, data=data, outputs=outputs)
    log = root / "log.txt"

    own: dict[str, list[float]] = {"in": [], "out": []}  # the script's own timing of its query

    def inside(argv: list[str]) -> float:
        start = time.perf_counter()
        result = run_sandboxed(argv, mounts, limits, stdout=log, stderr=root / "err.txt")
        took = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"sandboxed run failed ({result.returncode}): {(root / 'err.txt').read_text()[-500:]}")
        if log.read_text().strip():
            own["in"].append(float(log.read_text()))
        return took

    def outside(argv: list[str]) -> float:
        env = {"PATH": os.environ.get("PATH", ""), "DARI_POD_DATA": str(data), "DARI_POD_OUTPUTS": str(outputs)}
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
        took = time.perf_counter() - start
        if done.stdout.strip():
            own["out"].append(float(done.stdout))
        return took

    starts = [inside(["/bin/true"]) for _ in range(repeats)]
    py_in = [inside([python, "-c", "pass"]) for _ in range(repeats)]
    py_out = [outside([python, "-c", "pass"]) for _ in range(repeats)]
    ins, outs = [], []
    for _ in range(repeats):
        ins.append(inside([python, "/pod/code/main.py"]))
        outs.append(outside([python, str(code / "main.py")]))
    med = statistics.median
    ratio = med(ins) / med(outs)
    load = os.getloadavg()[0]
    print(f"pod sandbox benchmark ({patients:,} patients, {rows:,} measurements; load average {load:.1f})")
    verdict = "OK" if med(starts) < 1 else "MISS"
    print(f"  sandbox start (/bin/true):     median {med(starts):.3f} s   target < 1 s   {verdict}")
    print(f"  python start in / out:         {med(py_in):.3f} s / {med(py_out):.3f} s")
    print(f"  analysis in / out (median {repeats}): {med(ins):.3f} s / {med(outs):.3f} s")
    print(f"  the query alone in / out:      {med(own['in']):.3f} s / {med(own['out']):.3f} s (timed by the script)")
    print(f"  ratio in/out:                  {ratio:.2f}×   target ≤ 1.2×   {'OK' if ratio <= 1.2 else 'MISS'}")


def view_build(site: Path) -> None:
    """Time `build_view` on a site's CDM (first call in the process included: that is what a run pays)."""
    from dari.disclosure import DisclosureRules
    from dari.federation.guard import Admission
    from dari.hub.governance.requested_data import RequestedVariable
    from dari.pods.bundle import remove_tree
    from dari.pods.grant import RESEARCH_POD, PodGrant
    from dari.pods.view import build_view

    admission = Admission(
        job_id="bench", site_id="site-1", dataset_id="site-1-cdm", site_folder=str(site), analysis_type=RESEARCH_POD,
        requester="bench", grant_id="g", rules=DisclosureRules(), max_rounds=1,
    )  # fmt: skip
    variables = [RequestedVariable(table=t, label=t) for t in ("person", "measurement")]
    grant = PodGrant(admission=admission, bundle_sha256="0" * 64, variables=variables)
    for attempt in ("first", "second"):
        out = Path(tempfile.mkdtemp(prefix="dari-pod-view-")) / "view"
        start = time.perf_counter()
        record = build_view(site, grant, ["person", "measurement"], out)
        took = time.perf_counter() - start
        remove_tree(out)
        print(f"  view build ({attempt} in process): {took:.2f} s for {record.rows} (k achieved {record.k_achieved})")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
    if len(sys.argv) > 3:
        view_build(Path(sys.argv[3]))
