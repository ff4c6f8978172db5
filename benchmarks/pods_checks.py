"""The airlock's automatic checks on 100 output files (issue 20's target: < 5 s).

A mix like a real analysis's outputs: 40 CSV tables (aggregates and a few row-level ones of 2,000 rows), 20 PNG
charts and 10 SVG charts drawn by matplotlib, 10 HTML reports with tables, 10 Markdown and 10 text files. Drawing
is not timed; `check_outputs` over the folder is (best and median of 5 runs, file reads included).

    .venv/bin/python benchmarks/pods_checks.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from dari.disclosure import DisclosureRules
from dari.pods.output_check import check_outputs

TARGET_S = 5.0


def write_outputs(folder: Path) -> None:
    """100 files of the kinds a pod writes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(20)
    for i in range(40):
        rows = 2000 if i % 10 == 0 else 40
        lines = ["age_band,sex,n_persons,mean_egfr,visit_month"]
        lines += [
            f"{20 + j % 60}-{29 + j % 60},{'FM'[j % 2]},{10 + 5 * (j % 40)},{rng.normal(75, 12):.1f},"
            f"2024-{1 + j % 12:02d}"
            for j in range(rows)
        ]
        (folder / f"table_{i:02d}.csv").write_text("\n".join(lines) + "\n")
    for i in range(30):
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        ax.plot(np.cumsum(rng.normal(size=200)))
        ax.set_title(f"eGFR slope {i}")
        fig.savefig(folder / (f"chart_{i:02d}.png" if i < 20 else f"chart_{i:02d}.svg"), dpi=100)
        plt.close(fig)
    for i in range(10):
        cells = "".join(f"<tr><td>{b}</td><td>{10 + 5 * b}</td></tr>" for b in range(30))
        (folder / f"report_{i}.html").write_text(
            f"<!doctype html><html><body><h1>Report {i}</h1><table><tr><th>band</th><th>events</th></tr>{cells}"
            "</table></body></html>"
        )
        md = "| band | persons |\n|---|---|\n" + "".join(f"| {b} | {10 + 5 * b} |\n" for b in range(30))
        (folder / f"summary_{i}.md").write_text(f"# Summary {i}\n\n{md}")
        (folder / f"log_{i}.txt").write_text("".join(f"iteration {k}: loss {1 / (k + 1):.4f}\n" for k in range(300)))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dari-airlock-bench-") as tmp:
        folder = Path(tmp)
        write_outputs(folder)
        files = sorted(folder.iterdir())
        size = sum(p.stat().st_size for p in files)
        times, report = [], None
        for _ in range(5):
            start = time.perf_counter()
            report = check_outputs(folder, rules=DisclosureRules(), cohort_size=3000)
            times.append(time.perf_counter() - start)
        assert report is not None and len(report.files) == 100
        rules = sorted({f.rule for f in report.findings})
        print(f"files: {len(files)} ({size / 1e6:.1f} MB); findings: {len(report.findings)} ({', '.join(rules)})")
        print(
            f"check_outputs: best {min(times):.2f} s, median {statistics.median(times):.2f} s (target < {TARGET_S} s)"
        )


if __name__ == "__main__":
    main()
