"""Benchmark: what the site guard and the release ledger cost per job, beside a validation job's own site work.

One run, one machine, figures side by side (the target is a ratio, and load on a shared machine moves both sides):

* the guard (dari.federation.guard) per job: the parameters' hash of the request, the hub ticket's Ed25519
  verification and claim checks, the once-per-site lookup (an admission marker) at a site with `--history` earlier
  jobs in its audit, the grant check (the hub store's `check_grant`, audited there: a SQLite write; at a hospital
  this is a REST call to the hub), and the fsynced appends to the site's audit (admission marker, admission,
  outcome). Per calibration round: the path replay (`calibration.check_round`) and one audit append;
* the release ledger per job: every figure of the report recorded by its person set and checked against
  `--earlier` releases of the same grant and requester (cohorts the size of this one, the worst case), as
  `site_work._validate` does: the statistics with the ledger minus the statistics without it, best and mean;
* the site work: `score_site` (CDM feature extraction, ONNX scoring) and every site statistic with subgroups
  under disclosure control.

Target: guard + ledger below 5 % of the site work at 100,000 patients.

Usage: .venv/bin/python benchmarks/guard.py [--patients 100000] [--data DIR] [--repeats 20] [--earlier 200]
                                          [--history 3000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "federation" / "flower"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from flower_fixtures import hub_with_grant

from dari.federation.admissions import AdmittedJobs
from dari.federation.flower.calibration import CalibrationState, check_round, pool_steps
from dari.federation.flower.grants import HubStoreGrantChecker
from dari.federation.flower.jobs import JobRequest
from dari.federation.flower.simulation import build_job, with_tickets
from dari.federation.flower.site_work import ScoredCohort, job_claim, score_site
from dari.federation.guard import Admission, SiteBinding, SiteGuard
from dari.federation.ticket import check_ticket, hub_public_pem, params_sha256, read_ticket
from dari.models import OnnxModel
from dari.models.reference import reference_model_paths
from dari.validation import (
    UndefinedMetricWarning,
    evaluate,
    evaluate_subgroups,
    newton_fit,
    protect_metrics,
    site_logistic_step,
    site_metrics,
    site_sufficient_statistics,
)
from ledger import fill

TARGET = 0.05


def _site(data: Path, patients: int) -> Path:
    """One synthetic hospital of `patients` in `data` (generated when absent, as `dari synth --sites 1`)."""
    from dari.synth.network import generate_network

    folder = data / "site-1"
    if not (folder / "cdm.duckdb").is_file():
        print(f"generating 1 × {patients:,} synthetic patients into {data} …", flush=True)
        generate_network(data, sites=1, patients_per_site=patients, seed=7)
    return folder


def _median_s(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _honest_rounds(y: object, p: object, rules: object) -> int:
    """Rounds the hub's two shared fits need from (0, 1) on this site alone (as `hub_app._fits`)."""
    running = {m: newton_fit(m) for m in ("citl", "slope")}
    pending = {m: next(f) for m, f in running.items()}
    rounds = 0
    while pending:
        rounds += 1
        for mode in list(pending):
            total = pool_steps([site_logistic_step(y, p, pending[mode], mode, rules)])
            try:
                pending[mode] = running[mode].send([total])
            except StopIteration:
                del pending[mode]
    return rounds


def _history(guard: SiteGuard, jobs: int) -> None:
    """`jobs` earlier jobs in the site's audit (admission + outcome each) and their admission markers."""
    log, admitted = guard.audit_log, AdmittedJobs(Path(guard.site.folder))
    for k in range(jobs):
        details = {"job": f"earlier-{k:06d}", "dataset": guard.site.dataset_id, "requester": "researcher"}
        log.record("job.admit", "allow", **details, grant="g", analysis_type="model_validation", rounds=20)
        log.record("job.ok", "ok", **details, grant="g", analysis_type="model_validation", reason="")
        admitted.claim(f"earlier-{k:06d}", guard.site.dataset_id)


def _statistics(scored: ScoredCohort, job: JobRequest, admission: Admission, ids: np.ndarray | None) -> None:
    """The job's site statistics as `site_work._validate` computes them; with the ledger when `ids` are given."""
    spec, rules = job.validation, admission.rules
    groups = {g: scored.groups[g] for g in job.subgroups}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if ids is None:
            protect_metrics(evaluate(scored.y, scored.p, spec), rules)
            site_sufficient_statistics(scored.y, scored.p, spec, rules)
            evaluate_subgroups(scored.y, scored.p, groups, spec, rules)
            return
        ledger = admission.open_ledger()
        try:
            with ledger.release() as release:
                site_metrics(scored.y, scored.p, spec, rules, ledger=ledger, person_ids=ids)
                site_sufficient_statistics(scored.y, scored.p, spec, rules, ledger=ledger, person_ids=ids)
                evaluate_subgroups(scored.y, scored.p, groups, spec, rules, ledger=ledger, person_ids=ids)
                release.count("validation:cohort", ids)
        finally:
            ledger.close()


def main() -> None:
    """Print the guard's parts, the site work, and their ratio against the 5 % target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--earlier", type=int, default=200, help="earlier releases in the site's ledger")
    parser.add_argument("--history", type=int, default=3000, help="earlier jobs in the site's audit")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dari-guard-bench-") as tmp:
        root = Path(tmp)
        folder = _site(args.data or root / "data", args.patients)
        hub_db = root / "hub" / "hub.db"
        hub_db.parent.mkdir()
        factory, _ = hub_with_grant(hub_db, ["site-1-cdm"])
        ref = reference_model_paths()
        job, _ = build_job([folder], ref.model, ref.spec, requester="researcher", threshold=0.2)
        job = with_tickets(job, hub_db, "model_validation", job.model_sha256)
        site = SiteBinding(site_id="site-1", folder=str(folder), hub_public_key=hub_public_pem(hub_db))
        checker = HubStoreGrantChecker(factory)
        guard = SiteGuard(site, checker)
        claim = job_claim(job)
        trusted = site.trusted_key()
        assert trusted is not None
        expected = {"job_id": job.job_id, "site_id": "site-1", "params_sha256": claim.params_sha256}
        _history(guard, args.history)
        markers = AdmittedJobs(folder)

        parts = {
            "parameters' hash": lambda: params_sha256(job),
            "ticket verification": lambda: check_ticket(read_ticket(job.tickets["site-1"], trusted), expected),
            "grant check (hub store, audited)": lambda: checker.check("researcher", "site-1-cdm", "model_validation"),
            f"once-per-site lookup ({args.history:,} earlier jobs)": lambda: markers.seen(job.job_id, "site-1-cdm"),
            "admission marker (fsynced)": lambda: markers.claim(f"bench-{time.perf_counter_ns()}", "site-1-cdm"),
            "site audit append ×2": lambda: [guard.audit_log.record("bench", "ok", job=job.job_id) for _ in range(2)],
        }
        costs = {name: _median_s(fn, args.repeats) for name, fn in parts.items()}
        whole = _median_s(lambda: guard.admit(job_claim(job), job.disclosure), args.repeats)

        model = OnnxModel.load(ref.model, spec=job.spec())
        started = time.perf_counter()
        scored = score_site(folder, model, job.spec())
        score_s = time.perf_counter() - started
        rules = guard.admit(claim, job.disclosure).rules
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            protect_metrics(evaluate(scored.y, scored.p, job.validation), rules)
            site_sufficient_statistics(scored.y, scored.p, job.validation, rules)
            evaluate_subgroups(scored.y, scored.p, {g: scored.groups[g] for g in job.subgroups}, job.validation, rules)
        stats_s = time.perf_counter() - started
        work_s = score_s + stats_s

        # The ledger: `--earlier` releases of cohorts this size from the site's persons, then the job's statistics
        # without and with it; each job's ids are shifted so its sets are new (a repeat is 'released before').
        admission = guard.admit(claim, job.disclosure)
        rng = np.random.default_rng(13)
        population = np.arange(1, args.patients * 3 // 2 + 1, dtype=np.int64)
        ledger = admission.open_ledger()
        started = time.perf_counter()
        fill(ledger, population, int(scored.y.size), args.earlier, rng)
        ledger.close()
        print(f"site ledger: {args.earlier} earlier releases recorded in {time.perf_counter() - started:.1f} s")
        plain, ledgered = [], []
        for k in range(args.repeats):
            started = time.perf_counter()
            _statistics(scored, job, admission, None)
            plain.append(time.perf_counter() - started)
            started = time.perf_counter()
            _statistics(scored, job, admission, scored.person_id + (k + 1) * 10**10)
            ledgered.append(time.perf_counter() - started)
        ledger_best = min(ledgered) - min(plain)
        ledger_mean = statistics.mean(ledgered) - statistics.mean(plain)

        # One calibration round's guard: replay a 6-step path (a typical fit) and one audit append.
        admission = guard.admit(claim, job.disclosure)
        fit, path = newton_fit("slope"), []
        params = next(fit)
        for _ in range(6):
            stats = site_logistic_step(scored.y, scored.p, params, "slope", rules)
            total = pool_steps([stats])
            try:
                params = fit.send([total])
            except StopIteration:
                break
            path.append(total)
        state = CalibrationState(admission=admission, own={"slope": path[-1]}, paths={"slope": path[:-1]})
        round_s = _median_s(lambda: check_round(state, [("slope", params, path[-1])], ("site-1",)), args.repeats)
        round_s += costs["site audit append ×2"] / 2
        round_work_s = _median_s(lambda: site_logistic_step(scored.y, scored.p, params, "slope", rules), 5)
        rounds = _honest_rounds(scored.y, scored.p, rules)

    guard_s = sum(costs.values())
    print(f"\nsite guard per job (median of {args.repeats}), {scored.y.size:,} scored patients at the site:")
    for name, seconds in costs.items():
        print(f"  {name:<36} {seconds * 1e3:9.2f} ms")
    print(f"  {'guard total (parts)':<36} {guard_s * 1e3:9.2f} ms   (admit() alone, no audit: {whole * 1e3:.2f} ms)")
    print("site work of the validation job:")
    print(f"  {'score_site (features + ONNX)':<36} {score_s * 1e3:9.1f} ms")
    print(f"  {'statistics + subgroups':<36} {stats_s * 1e3:9.1f} ms")
    print(f"  {'site work total':<36} {work_s * 1e3:9.1f} ms")
    print(
        f"release ledger per job ({args.earlier} earlier releases, {args.repeats} jobs; the mean carries the merges):"
    )
    print(f"  {'ledger, best':<36} {ledger_best * 1e3:9.1f} ms")
    print(f"  {'ledger, mean':<36} {ledger_mean * 1e3:9.1f} ms")
    print(f"guard / site work = {guard_s / work_s:.2%}; ledger / site work = {ledger_mean / work_s:.2%} (mean)")
    ratio = (guard_s + ledger_mean) / work_s
    verdict = "meets" if ratio < TARGET else "MISSES"
    print(
        f"guard + ledger / site work = {ratio:.2%} mean, {(guard_s + ledger_best) / work_s:.2%} best  "
        f"({verdict} the < {TARGET:.0%} target)"
    )
    print(
        f"per calibration round: guard {round_s * 1e3:.2f} ms (path replay + audit) beside the round's own sums "
        f"{round_work_s * 1e3:.2f} ms"
    )
    with_rounds = guard_s + rounds * round_s
    print(
        f"job + its {rounds} honest calibration rounds (both fits from (0, 1)): guard {with_rounds * 1e3:.1f} ms = "
        f"{with_rounds / (work_s + rounds * round_work_s):.2%} of the site work"
    )


if __name__ == "__main__":
    main()
