"""Benchmark: a portal feasibility count and recruitment forecast through the site connector, in seconds.

Three synthetic sites of the demo's size (2,000 patients each, `dari demo`), a hub whose researcher holds a
feasibility grant over all three; `SiteConnector.count` (feasibility, then the forecast over each site's whole
history) as the cohort builder's "Count at every site" button calls it (tickets issued and audited, every site
through its guard, its ledger, the hub's re-check).
The first run pays the imports and the first DuckDB/Ibis compile; the repeats are what a user waits for after.
Target (issue 15): seconds — below 5 s per click with three sites, where Flower's simulation engine alone spends
about 10 s starting Ray before any site works (docs/federated-queries.md).

Usage: .venv/bin/python benchmarks/feasibility_portal.py [--patients 2000] [--repeats 5] [--data DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import warnings
from importlib import resources
from pathlib import Path

TARGET_S = 5.0


def _network(root: Path, patients: int) -> dict[str, Path]:
    from dari.etl.pipeline import run_etl
    from dari.synth.network import generate_site
    from dari.synth.sites import network_profiles

    sites = {}
    for profile in network_profiles(3):
        folder = root / profile.site_id
        if not (folder / "cdm").exists():
            generate_site(profile, folder, patients, seed=5)
            run_etl(folder)
        sites[profile.site_id] = folder
    return sites


def _hub(path: Path) -> None:
    from dari.hub.db.engine import make_engine, migrate, session_factory
    from dari.hub.governance.applications import AnalysisType, ApplicationCreate, submit_application
    from dari.hub.governance.review import Decision, ReviewCreate, record_review
    from dari.hub.governance.users import get_user
    from dari.hub.keys import ensure_hub_key, hub_key_paths
    from dari.hub.seed import publish_samples, seed_consortium

    # A fresh hub on each run, with a fresh key: the sites keep checkpoints per hub key, and a new log under an old
    # key would rightly read to them as a rolled-back audit log.
    for old in (path, hub_key_paths(path).private, hub_key_paths(path).public):
        old.unlink(missing_ok=True)
    engine = make_engine(path)
    migrate(engine)
    ensure_hub_key(path)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        publish_samples(s, seed_consortium(s, "bench-password-1")["admin"])
    today = dt.date.today()
    with factory() as s, s.begin():
        data = ApplicationCreate(
            title="feasibility benchmark",
            purpose="How fast the portal counts a cohort at three sites.",
            irb_number="IRB-BENCH-1",
            dataset_ids=["site-1-cdm", "site-2-cdm", "site-3-cdm"],
            analysis_types=[AnalysisType.FEASIBILITY],
            period_start=today,
            period_end=today + dt.timedelta(days=30),
            dua_accepted=True,
            submission_key="feasibility-bench-1",
        )
        app_id = submit_application(s, get_user(s, "researcher"), data).id
    for reviewer in ("drb1", "drb2a", "drb2b", "drb3"):
        with factory() as s, s.begin():
            record_review(s, get_user(s, reviewer), app_id, ReviewCreate(decision=Decision.APPROVE))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None, help="keep the sites here between runs")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    root = args.data or Path(tempfile.mkdtemp(prefix="dari-feas-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    sites = _network(root, args.patients)
    _hub(root / "hub.db")
    for folder in sites.values():  # a fresh ledger per run: earlier runs' releases are not this benchmark's
        for f in (folder / "ledger").glob("releases.sqlite3*"):
            f.unlink()
    from dari.cohort import load_definition
    from dari.hub.db.engine import make_engine, session_factory
    from dari.hub.settings import HubSettings
    from dari.hub.site_connector import SiteConnector

    definition = load_definition(Path(str(resources.files("dari.cohort") / "examples" / "t2dm_on_metformin.json")))
    settings = HubSettings(database=str(root / "hub.db"), site_folders=sites)
    connector = SiteConnector(settings, session_factory(make_engine(settings.database)))
    times: list[float] = []
    for _ in range(args.repeats + 1):
        t0 = time.perf_counter()
        run, forecasts = connector.count("researcher", definition, horizon_months=12)
        times.append(time.perf_counter() - t0)
    assert run.covered == ("site-1", "site-2", "site-3"), [r.reason for r in run.sites.values()]
    ok = sum(f.status == "ok" for f in forecasts.values())
    reasons = {f.reason[:90] for f in forecasts.values() if f.status != "ok"}
    cold, click = times[0], times[1:]
    pooled = run.pooled_feasibility.cohort_persons.shown if run.pooled_feasibility else "–"
    print(f"sites: 3 x {args.patients:,} patients; cohort persons pooled {pooled}")
    print(f"forecasts ok: {ok} of 3 {sorted(reasons) if reasons else ''}")
    print(f"first click (imports, first compile): {cold:.2f} s")
    print(
        f"later clicks ({len(click)}): median {statistics.median(click):.2f} s, max {max(click):.2f} s "
        f"(target < {TARGET_S:.0f} s)"
    )


if __name__ == "__main__":
    main()
