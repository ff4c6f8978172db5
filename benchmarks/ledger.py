"""Benchmark: the release ledger's cost per validation job at 100,000 patients, beside the 5 % target.

A site ledger is filled with `--earlier` releases (default 200), each a cohort of about `--patients` persons drawn
from a population of 1.5 × that (so every earlier cohort is within the size window of the new one and must be
compared: the worst case for the |A △ B| ≥ ||A| − |B|| filter) plus 60 small cells (histogram bins, 2×2 cells).
Then one validation job's site statistics — `site_metrics`, `site_sufficient_statistics` and `evaluate_subgroups`
by sex and age band, as `run_site_job` calls them — run without the ledger and with it (one release: hashing,
keyed noise, checks against every earlier release, its fsynced segment files and one SQLite transaction).
The ledger's cost is the difference.

The 5 % target is of the site's work for a validation job at 100,000 patients, dominated by `score_site`
(feature extraction from the CDM and ONNX scoring; the lead measures it in benchmarks/validation.py). This script
prints the ledger's cost against the statistics it measures here (a lower bound on the site's work, so the
percentage printed is an upper bound) and against `--site-work` seconds when given.
Measured (December 2026, busy 2-core machine): `score_site` on a 100,000-patient synthetic site took 2.8–3.5 s
and scored 11,832 rows (the reference model's cohort); `--rows 11832` is that job, the default (100,000 rows)
the worst case of a cohort as large as the site.
Usage: .venv/bin/python benchmarks/ledger.py [--patients 100000] [--rows N] [--earlier 200] [--repeats 10]
                                           [--site-work SECONDS | --site SITE_FOLDER] [--guard-ms MS]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from dari.disclosure import DisclosureRules
from dari.federation.ledger import ReleaseLedger
from dari.validation import (
    UndefinedMetricWarning,
    ValidationSpec,
    evaluate_subgroups,
    site_metrics,
    site_sufficient_statistics,
)


def fill(ledger: ReleaseLedger, population: np.ndarray, patients: int, earlier: int, rng: np.random.Generator) -> None:
    """Earlier releases: a cohort of about `patients` persons and 60 small cells each."""
    for _ in range(earlier):
        cohort = rng.choice(population, patients + int(rng.integers(-5, 6)), replace=False)
        with ledger.release() as release:
            release.cell("cohort", cohort)
            for k in range(60):
                release.cell(f"bin[{k}]", cohort[k * 40 : k * 40 + int(rng.integers(10, 40))])


def _job(
    y: np.ndarray, p: np.ndarray, ids: np.ndarray, groups: dict[str, np.ndarray], ledger: ReleaseLedger | None
) -> None:
    spec, rules = ValidationSpec(threshold=0.2), DisclosureRules()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if ledger is None:
            site_metrics(y, p, spec, rules)
            site_sufficient_statistics(y, p, spec, rules)
            evaluate_subgroups(y, p, groups, spec, rules)
            return
        with ledger.release():
            site_metrics(y, p, spec, rules, ledger=ledger, person_ids=ids)
            site_sufficient_statistics(y, p, spec, rules, ledger=ledger, person_ids=ids)
            evaluate_subgroups(y, p, groups, spec, rules, ledger=ledger, person_ids=ids)


def _score_site(folder: Path) -> tuple[float, int]:
    """Best of two `score_site` runs of the reference model on a site folder, and the rows it scored."""
    from dari.federation.flower.site_work import score_site
    from dari.models import OnnxModel, load_spec
    from dari.models.reference import reference_model_paths

    ref = reference_model_paths()
    spec = load_spec(ref.spec)
    model = OnnxModel.load(ref.model, spec=spec)
    times, rows = [], 0
    for _ in range(2):
        t0 = time.perf_counter()
        rows = int(score_site(folder, model, spec).y.size)
        times.append(time.perf_counter() - t0)
    print(f"score_site on {folder}: {min(times):.2f} s, {rows:,} rows scored")
    return min(times), rows


def main() -> None:
    """Fill a ledger, then time one validation job's statistics without and with it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--earlier", type=int, default=200)
    parser.add_argument("--rows", type=int, default=None, help="scored cohort rows of the job (default: --patients)")
    parser.add_argument("--site-work", type=float, default=None, help="seconds of score_site at this size")
    parser.add_argument("--site", type=Path, default=None, help="a site folder: measure score_site there")
    parser.add_argument("--repeats", type=int, default=10, help="jobs timed (key segments merge every 8 jobs)")
    parser.add_argument("--guard-ms", type=float, default=None, help="the guard's total from benchmarks/guard.py")
    args = parser.parse_args()
    if args.site is not None:
        args.site_work, args.rows = _score_site(args.site)
    rng = np.random.default_rng(13)
    rows = args.rows or args.patients
    population = rng.choice(10**12, int(args.patients * 1.5), replace=False)
    ids = rng.choice(population, rows, replace=False)
    y = rng.random(rows) < 0.2
    p = 1 / (1 + np.exp(-(rng.normal(-1.6, 1.0, rows) + 1.2 * y)))
    groups = {
        "sex": rng.choice(np.array(["F", "M"]), rows),
        "age_band": rng.choice(np.array([f"{a}-{a + 9}" for a in range(20, 90, 10)]), rows),
    }
    with tempfile.TemporaryDirectory(prefix="dari-ledger-bench-") as tmp:
        ledger = ReleaseLedger.open(Path(tmp), grant_id="g", requester="r", rules=DisclosureRules())
        t0 = time.perf_counter()
        fill(ledger, population, args.patients, args.earlier, rng)
        fill_s = time.perf_counter() - t0
        size_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
        print(f"ledger filled: {args.earlier} earlier releases in {fill_s:.1f} s, {size_mb:.0f} MB on disk")
        plain, ledgered = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            _job(y, p, ids, groups, None)
            plain.append(time.perf_counter() - t0)
            # a fresh cohort each time, so the job is checked in full (a repeat would skip as already released)
            fresh = rng.choice(population, rows, replace=False)
            t0 = time.perf_counter()
            _job(y, p, fresh, groups, ledger)
            ledgered.append(time.perf_counter() - t0)
        ledger.close()
    stats_s, with_s = min(plain), min(ledgered)
    cost = with_s - stats_s
    # the mean charges every job its share of the key segments' merges (8 of a level into one, every 8th job)
    mean_cost = sum(ledgered) / len(ledgered) - sum(plain) / len(plain)
    print(f"validation statistics on {rows:,} rows: {stats_s:.3f} s without the ledger (best of {args.repeats})")
    print(f"                                         with it: {with_s:.3f} s → ledger cost {cost:.3f} s per job")
    print(f"ledger cost, mean of {args.repeats} jobs (segment merges amortised): {mean_cost:.3f} s")
    print(f"ledger cost / statistics alone: {100 * cost / stats_s:.1f} % (upper bound of the share of site work)")
    if args.site_work:
        work = args.site_work + stats_s
        print(f"site work: {args.site_work:.2f} s score_site + {stats_s:.3f} s statistics = {work:.2f} s")
        print(f"ledger / site work: {100 * cost / work:.1f} % best, {100 * mean_cost / work:.1f} % mean (target < 5 %)")
        if args.guard_ms is not None:
            both, both_mean = cost + args.guard_ms / 1e3, mean_cost + args.guard_ms / 1e3
            verdict = "meets" if both_mean / work < 0.05 else "MISSES"
            print(
                f"guard ({args.guard_ms:.1f} ms) + ledger / site work: {100 * both / work:.1f} % best, "
                f"{100 * both_mean / work:.1f} % mean ({verdict} the < 5 % target)"
            )


if __name__ == "__main__":
    main()
