"""A validation job through Flower's simulation engine (Ray): pooled = centralised, refusals and failures kept.

One run serves every test (starting Ray costs tens of seconds on a small machine), hence `slow`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from flower_fixtures import MIN_CELL, hub_with_grant
from sqlalchemy import select

from dari.cli.validate import centralised_rows, result_json
from dari.disclosure import DisclosureRules
from dari.federation.flower.grants import HubStoreGrantChecker
from dari.federation.flower.jobs import ValidationRun
from dari.federation.flower.simulation import run_validation
from dari.hub.db.models import AuditEntry
from dari.models.reference import reference_model_paths
from dari.validation import ValidationSpec, centralised_pooled_metrics

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def job(flower_sites: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[ValidationRun, Path]:
    """site-1, site-2 granted; site-3 granted but its folder is broken; site-4 has no grant."""
    tmp = tmp_path_factory.mktemp("flower-sim")
    hub_db = tmp / "hub.db"
    factory, _ = hub_with_grant(hub_db, ["site-1-cdm", "site-2-cdm", "site-3-cdm"])
    broken, stranger = tmp / "site-3", tmp / "site-4"
    broken.mkdir()
    (broken / "cdm.duckdb").write_bytes(b"not a database")
    stranger.mkdir()
    ref = reference_model_paths()
    run = run_validation(
        [*flower_sites, broken, stranger],
        ref.model,
        ref.spec,
        grant_checker=HubStoreGrantChecker(factory),
        requester="researcher",
        threshold=0.2,
        rules=DisclosureRules(min_cell=MIN_CELL),
        hub_store=hub_db,
    )
    return run, hub_db


def test_flower_simulation_pooled_matches_centralised(
    job: tuple[ValidationRun, Path], flower_sites: list[Path]
) -> None:
    run, _ = job
    ref = reference_model_paths()
    rows = centralised_rows(flower_sites, ref.model, ref.spec)
    y = np.concatenate([r.y for _, r in rows])
    p = np.concatenate([r.p for _, r in rows])
    central = centralised_pooled_metrics(y, p, ValidationSpec(threshold=0.2), sites=2)
    assert run.pooled is not None and run.covered == ("site-1", "site-2")
    assert run.pooled.n == central.n and run.pooled.events == central.events
    assert abs(run.pooled.auroc.estimate - central.auroc.estimate) < 1e-3
    assert abs(run.pooled.calibration_slope.estimate - central.calibration_slope.estimate) < 1e-6
    assert abs(run.pooled.citl.estimate - central.citl.estimate) < 1e-6
    assert abs(run.pooled.brier.brier - central.brier.brier) < 1e-12


def test_flower_simulation_reports_refused_and_failed_sites(job: tuple[ValidationRun, Path]) -> None:
    run, hub_db = job
    assert run.refused == ("site-4",) and run.failed == ("site-3",)
    assert run.sites["site-4"].reason.startswith("no grant")
    assert run.sites["site-3"].grant_id is not None  # granted, then failed on its broken CDM
    factory = HubStoreGrantChecker.from_url(hub_db)._factory
    with factory() as s:
        checks = s.execute(select(AuditEntry).where(AuditEntry.action == "grant.check")).scalars().all()
    outcomes = {e.target: e.outcome for e in checks}
    assert outcomes["dataset:site-4-cdm"] == "deny" and outcomes["dataset:site-1-cdm"] == "allow"


def test_flower_simulation_result_json_has_no_rows(job: tuple[ValidationRun, Path]) -> None:
    run, _ = job
    doc = result_json(run, None)
    text = json.dumps(doc)
    assert doc["pooled"]["sites"] == ["site-1", "site-2"]
    assert {"n", "events", "auroc", "auroc_ci", "calibration_slope", "calibration_intercept", "brier"} <= set(
        doc["pooled"]
    )
    assert "person_id" not in text and "y_score" not in text
    assert len(text) < 500_000  # aggregates: no per-row arrays


def test_flower_simulation_result_json_has_subgroups_the_report_reads(job: tuple[ValidationRun, Path]) -> None:
    from dari.reports.results_file import parse_results

    run, _ = job
    doc = json.loads(json.dumps(result_json(run, None), allow_nan=True))
    assert set(doc["subgroups"]) == {"site-1", "site-2"}  # the covered sites; refused and failed ones have none
    assert [v["variable"] for v in doc["subgroups"]["site-1"]] == ["sex", "age_band"]
    inputs = parse_results(doc, source="results.json")
    assert set(inputs.subgroups) == {"site-1", "site-2"}
    # each released level pooled across the covered sites only, from their released results
    pooled = doc["subgroup_meta_analysis"]
    assert pooled and {g["variable"] for g in pooled} == {"sex", "age_band"}
    assert all(set(g["auroc"]["sites"]) <= {"site-1", "site-2"} and g["auroc"]["k"] >= 1 for g in pooled)
    assert [g.model_dump_json() for g in inputs.run.subgroup_meta] == [g.model_dump_json() for g in run.subgroup_meta]
    assert all(list(g.auroc.sites) == sorted(g.auroc.sites) for g in run.subgroup_meta)
