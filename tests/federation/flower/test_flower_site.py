"""The site side of a validation job without the Flower engine: grant first, then aggregates only."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from flower_fixtures import MIN_CELL, hub_with_grant, site
from sqlalchemy import select

from dari.disclosure import DisclosureRules
from dari.federation.flower.grants import HubStoreGrantChecker, SyntheticOnlyGrantChecker
from dari.federation.flower.jobs import JobRequest
from dari.federation.flower.simulation import build_job, with_tickets
from dari.federation.flower.site_work import run_site_job
from dari.hub.db.models import AuditEntry
from dari.models.reference import reference_model_paths

RULES = DisclosureRules(min_cell=MIN_CELL)


def _job(sites: list[Path]) -> tuple[JobRequest, bytes]:
    ref = reference_model_paths()
    return build_job(sites, ref.model, ref.spec, requester="researcher", threshold=0.2, rules=RULES)


def test_flower_site_without_grant_refuses_and_hub_audits_it(flower_sites: list[Path], tmp_path: Path) -> None:
    # Prepare: the grant covers site-2 only
    hub_db = tmp_path / "hub.db"
    factory, _ = hub_with_grant(hub_db, ["site-2-cdm"])
    job, model = _job(flower_sites[:1])
    job = with_tickets(job, hub_db, "model_validation", job.model_sha256)  # the hub issues none for site-1
    # Execute
    report, scored = run_site_job(job, model, site(flower_sites[0], hub_db=hub_db), HubStoreGrantChecker(factory))
    # Assert
    assert report.status == "refused" and report.reason.startswith("no grant")
    assert report.metrics is None and report.statistics is None and scored is None
    with factory() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "grant.check")).scalars().all()
    assert [(e.target, e.outcome) for e in entries] == [("dataset:site-1-cdm", "deny")]


def test_flower_site_with_grant_returns_only_aggregates(flower_sites: list[Path], tmp_path: Path) -> None:
    hub_db = tmp_path / "hub.db"
    factory, grant = hub_with_grant(hub_db, ["site-1-cdm", "site-2-cdm"])
    job, model = _job(flower_sites)
    job = with_tickets(job, hub_db, "model_validation", job.model_sha256)
    report, scored = run_site_job(job, model, site(flower_sites[0], hub_db=hub_db), HubStoreGrantChecker(factory))
    assert report.status == "ok", report.reason
    assert report.grant_id == grant and scored is not None
    text = report.model_dump_json()
    assert "person_id" not in text and len(text) < 200_000
    assert report.statistics is not None and report.statistics.n == scored.y.size


def test_flower_site_wrong_model_hash_fails(flower_sites: list[Path]) -> None:
    job, model = _job(flower_sites)
    checker = SyntheticOnlyGrantChecker({"site-1-cdm": flower_sites[0]})
    report, _ = run_site_job(job, model + b"\x00", site(flower_sites[0]), checker)
    assert report.status == "failed" and "sha256" in report.reason


def test_flower_site_missing_folder_fails_after_the_grant(flower_sites: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "site-1"
    (broken / "truth").mkdir(parents=True)
    (broken / "truth" / "ckd_progression.csv").write_text("x\n")
    job, model = _job([broken, flower_sites[1]])
    report, _ = run_site_job(job, model, site(broken), SyntheticOnlyGrantChecker({"site-1-cdm": broken}))
    assert report.status == "failed" and report.reason


def test_flower_no_governance_refuses_real_data(tmp_path: Path) -> None:
    decision = SyntheticOnlyGrantChecker({"site-1-cdm": tmp_path}).check("researcher", "site-1-cdm", "x")
    assert not decision.allowed and "synthetic" in decision.reason


def test_flower_hub_store_checker_pickles_to_the_same_store(tmp_path: Path) -> None:
    factory, _ = hub_with_grant(tmp_path / "hub.db", ["site-1-cdm"])
    clone = pickle.loads(pickle.dumps(HubStoreGrantChecker(factory)))
    assert clone.check("researcher", "site-1-cdm", "model_validation").allowed
    assert not clone.check("researcher", "site-1-cdm", "feasibility").allowed


def test_flower_site_reports_subgroups_with_gaps_and_suppression(flower_sites: list[Path]) -> None:
    ref = reference_model_paths()
    job, model = build_job(flower_sites, ref.model, ref.spec, requester="researcher", threshold=0.2, rules=RULES)
    job = job.model_copy(update={"subgroups": ("sex", "age_band", "diabetes")})
    checker = SyntheticOnlyGrantChecker({"site-1-cdm": flower_sites[0]})
    report, scored = run_site_job(job, model, site(flower_sites[0]), checker)
    assert report.status == "ok", report.reason
    assert scored is not None
    by_name = {v.variable: v for v in report.subgroups}
    assert list(by_name) == ["sex", "age_band", "diabetes"]
    assert {lv.level for lv in by_name["sex"].levels} == set(scored.groups["sex"].tolist())
    assert {lv.level for lv in by_name["diabetes"].levels} <= {"yes", "no", "missing"}
    released = [lv for v in report.subgroups for lv in v.levels if not lv.suppressed]
    assert released and all(lv.metrics is not None for lv in released)
    # every released level has at least MIN_CELL events and non-events at the site
    for v in report.subgroups:
        labels = scored.groups[v.variable]
        for lv in v.levels:
            if lv.suppressed:
                continue
            y = scored.y[labels == lv.level]
            assert int(y.sum()) >= MIN_CELL and int((~y).sum()) >= MIN_CELL
    gap = next(g for g in by_name["sex"].gaps if g.metric == "auroc")
    assert gap.levels == 2 and gap.gap >= 0


def test_flower_job_refuses_a_subgroup_the_spec_does_not_have(flower_sites: list[Path]) -> None:
    job, _ = _job(flower_sites)
    with pytest.raises(ValueError, match="neither sex nor age_band"):
        JobRequest.model_validate({**job.model_dump(), "subgroups": ["egfr"]})
