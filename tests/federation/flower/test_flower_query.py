"""Federated query jobs (feasibility, Table 1): the site side without Flower, the hub's pooling, and one run
through Flower's simulation engine (Ray start-up costs about a minute here, hence one run, marked `slow`)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import typer
from flower_fixtures import MIN_CELL, hub_with_grant, site
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from dari.cdm.store import open_store
from dari.cli.query import characterise_cohort, feasibility
from dari.cohort import load_definition, load_table_one_request, pool_feasibility
from dari.cohort.feasibility import unprotected_feasibility
from dari.cohort.table_one import unprotected_table_one
from dari.disclosure import DisclosureRules, ProtectedCount, protect_count
from dari.federation.flower.grants import HubStoreGrantChecker, SyntheticOnlyGrantChecker
from dari.federation.flower.query_apps import _checked, pool_reports, run_query_site
from dari.federation.flower.query_jobs import QueryRequest, QueryRun, QuerySiteReport
from dari.federation.flower.query_simulation import build_query, run_query
from dari.federation.flower.simulation import with_tickets
from dari.federation.ledger import open_site_ledger
from dari.hub.db.models import AuditEntry
from dari.hub.governance.applications import AnalysisType

EXAMPLES = Path(str(resources.files("dari.cohort") / "examples"))
DEFINITION, REQUEST = EXAMPLES / "ckd_g3.json", EXAMPLES / "table_one_cardiometabolic.json"
RULES = DisclosureRules(min_cell=MIN_CELL)


def hub_granting(path: Path, datasets: list[str], types: list[AnalysisType]) -> sessionmaker[Session]:
    """A migrated demo hub where `researcher` holds an approved grant of `types` over `datasets`."""
    return hub_with_grant(path, datasets, types)[0]


def _checks(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    with factory() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "grant.check")).scalars().all()
    return [(e.target, e.outcome) for e in entries]


def _request(sites: list[Path], kind: str = "feasibility") -> QueryRequest:
    return build_query(
        sites,
        "feasibility" if kind == "feasibility" else "characterisation",
        DEFINITION,
        request_path=None if kind == "feasibility" else REQUEST,
        requester="researcher",
        rules=RULES,
    )


def _synthetic(sites: list[Path]) -> SyntheticOnlyGrantChecker:
    return SyntheticOnlyGrantChecker({f"{s.name}-cdm": s for s in sites})


def _noisy(site: Path, rules: DisclosureRules, members: dict[str, Any]) -> Callable[[str, int], ProtectedCount]:
    """The protected count the site's ledger gives a cell: its exact size, its person set's keyed noise, rounded."""
    ledger = open_site_ledger(site, grant_id=None, requester="test", rules=rules)

    def count(key: str, n: int) -> ProtectedCount:
        return protect_count(n, rules, noise=ledger.noise(ledger.hashes(members[key])))

    return count


def test_flower_query_refuses_without_grant_before_opening_data(flower_sites: list[Path], tmp_path: Path) -> None:
    # Prepare: the grant covers site-2 only; site-1's folder does not even exist (it must never be opened)
    hub_db = tmp_path / "hub.db"
    factory = hub_granting(hub_db, ["site-2-cdm"], [AnalysisType.FEASIBILITY])
    request = _request(flower_sites[:1])
    request = with_tickets(request, hub_db, request.analysis_type, None)  # the hub issues none for site-1
    nowhere = site(flower_sites[0], hub_db=hub_db).model_copy(update={"folder": str(tmp_path / "nowhere")})
    # Execute
    report = run_query_site(request, nowhere, HubStoreGrantChecker(factory))
    # Assert
    assert report.status == "refused" and report.reason.startswith("no grant")
    assert report.feasibility is None and report.table_one is None
    assert _checks(factory) == [("dataset:site-1-cdm", "deny")]


def test_flower_query_model_validation_grant_does_not_cover_queries(flower_sites: list[Path], tmp_path: Path) -> None:
    hub_db = tmp_path / "hub.db"
    factory, _ = hub_with_grant(hub_db, ["site-1-cdm"])  # model_validation only
    for kind in ("feasibility", "characterisation"):
        request = _request(flower_sites[:1], kind)
        request = with_tickets(request, hub_db, request.analysis_type, None)
        report = run_query_site(request, site(flower_sites[0], hub_db=hub_db), HubStoreGrantChecker(factory))
        assert report.status == "refused", kind
    assert _checks(factory) == [("dataset:site-1-cdm", "deny")] * 2


def test_flower_query_site_floor_beats_a_lower_request(flower_sites: list[Path]) -> None:
    report = run_query_site(_request(flower_sites), site(flower_sites[0]), _synthetic(flower_sites))
    assert report.status == "ok" and report.feasibility is not None
    assert report.feasibility.rules.min_cell == 10  # the request asked for less; the site's floor wins


def test_flower_query_feasibility_is_disclosure_controlled(flower_sites: list[Path]) -> None:
    request = _request(flower_sites)
    # This test site is configured with the test's low floor; a real site's floor is 10 (see the next test).
    report = run_query_site(request, site(flower_sites[0], floor=RULES), _synthetic(flower_sites))
    assert report.status == "ok", report.reason
    assert report.feasibility is not None
    store = open_store(flower_sites[0])
    try:
        raw = unprotected_feasibility(store, request.definition, site="site-1", with_members=True)
    finally:
        store.close()
    res = report.feasibility
    assert res.rules == RULES
    # Released under the site's release ledger: each count carries its person set's keyed noise before rounding
    noisy = _noisy(flower_sites[0], RULES, raw.members or {})
    assert res.cohort_persons == noisy(f"remaining[{len(raw.remaining) - 1}]", raw.remaining[-1])
    assert [s.remaining for s in res.attrition] == [noisy(f"remaining[{k}]", n) for k, n in enumerate(raw.remaining)]
    released = {s.stratum: s.persons for s in res.by_age_band}
    assert released == {b: noisy(f"age:{b}", n) for b, n in raw.by_age_band.items()}
    assert any(c.suppressed for c in released.values())  # small strata exist and are not released


def test_flower_query_table_one_is_disclosure_controlled(flower_sites: list[Path]) -> None:
    request = _request(flower_sites, "characterisation")
    report = run_query_site(request, site(flower_sites[1], floor=RULES), _synthetic(flower_sites))
    assert report.status == "ok", report.reason
    assert report.table_one is not None
    store = open_store(flower_sites[1])
    try:
        assert request.table_one is not None
        raw = unprotected_table_one(store, request.definition, request.table_one, site="site-2", with_members=True)
    finally:
        store.close()
    t1 = report.table_one
    noisy = _noisy(flower_sites[1], t1.rules, raw.members or {})  # under the ledger: keyed noise, then rounding
    assert t1.n == noisy("n", raw.n)
    assert [r.persons for r in t1.comorbidities] == [noisy(f"comorbidity:{c}", n) for c, n in raw.comorbidities.items()]
    assert "person_id" not in report.model_dump_json()


def test_flower_query_broken_site_fails_after_the_grant(tmp_path: Path, flower_sites: list[Path]) -> None:
    broken = tmp_path / "site-1"
    (broken / "truth").mkdir(parents=True)
    (broken / "truth" / "ckd_progression.csv").write_text("x\n")
    (broken / "cdm.duckdb").write_bytes(b"not a database")
    report = run_query_site(_request([broken]), site(broken), _synthetic([broken]))
    assert report.status == "failed" and report.reason
    assert report.feasibility is None


def test_flower_query_hub_pools_ok_sites_and_keeps_the_others(flower_sites: list[Path]) -> None:
    request = _request([*flower_sites, Path("site-3"), Path("site-4")])
    ok = {s.name: run_query_site(request, site(s), _synthetic(flower_sites)) for s in flower_sites}
    reports = {
        **ok,
        "site-3": QuerySiteReport(site_id="site-3", status="failed", reason="no reply"),
        "site-4": QuerySiteReport(site_id="site-4", status="refused", reason="no grant"),
    }
    run = pool_reports(request, reports, "simulation", 0.0)
    assert run.covered == ("site-1", "site-2") and run.failed == ("site-3",) and run.refused == ("site-4",)
    direct = pool_feasibility([r.feasibility for r in ok.values() if r.feasibility])
    assert run.pooled_feasibility == direct and direct.sites == ["site-1", "site-2"]


def test_flower_query_hub_fails_a_report_for_another_definition(flower_sites: list[Path]) -> None:
    request = _request(flower_sites)
    other = build_query(flower_sites, "feasibility", EXAMPLES / "t2dm_on_metformin.json", requester="r", rules=RULES)
    stray = run_query_site(other, site(flower_sites[0]), _synthetic(flower_sites))
    assert _checked(request, stray).status == "failed"


def test_flower_query_request_needs_a_table_one_request_for_characterisation(flower_sites: list[Path]) -> None:
    with pytest.raises(ValueError, match="Table 1 request"):
        QueryRequest(
            kind="characterisation", requester="r", datasets={"a": "a-cdm"}, definition=load_definition(DEFINITION)
        )
    with pytest.raises(ValueError, match="no Table 1"):
        QueryRequest(
            kind="feasibility",
            requester="r",
            datasets={"a": "a-cdm"},
            definition=load_definition(DEFINITION),
            table_one=load_table_one_request(REQUEST),
        )


def test_flower_query_cli_refuses_real_data_without_hub(tmp_path: Path) -> None:
    site = tmp_path / "site-1"
    site.mkdir()
    app = typer.Typer()
    app.command("feasibility")(feasibility)
    app.command("table-one")(characterise_cohort)
    result = CliRunner().invoke(app, ["feasibility", "--definition", str(DEFINITION), "--sites", str(site)])
    assert result.exit_code == 2 and "synthetic" in result.output
    args = ["table-one", "--definition", str(DEFINITION), "--request", str(REQUEST), "--sites", str(site)]
    result = CliRunner().invoke(app, [*args, "--no-governance", "--hub-db", str(tmp_path / "h.db")])
    assert result.exit_code == 2 and "only one" in result.output


@pytest.fixture(scope="module")
def simulated(flower_sites: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[QueryRun, Path]:
    """site-1, site-2 granted; site-3 granted but broken; site-4 not granted."""
    tmp = tmp_path_factory.mktemp("flower-query-sim")
    hub_db = tmp / "hub.db"
    factory = hub_granting(hub_db, ["site-1-cdm", "site-2-cdm", "site-3-cdm"], [AnalysisType.FEASIBILITY])
    broken, stranger = tmp / "site-3", tmp / "site-4"
    broken.mkdir()
    (broken / "cdm.duckdb").write_bytes(b"not a database")
    stranger.mkdir()
    run = run_query(
        [*flower_sites, broken, stranger],
        "feasibility",
        DEFINITION,
        grant_checker=HubStoreGrantChecker(factory),
        requester="researcher",
        rules=RULES,
        hub_store=hub_db,
    )
    return run, hub_db


@pytest.mark.slow
def test_flower_query_simulation_pools_granted_sites(
    simulated: tuple[QueryRun, Path], flower_sites: list[Path]
) -> None:
    run, hub_db = simulated
    assert run.engine == "simulation" and run.kind == "feasibility"
    assert run.covered == ("site-1", "site-2") and run.failed == ("site-3",) and run.refused == ("site-4",)
    assert run.sites["site-3"].grant_id is not None and run.sites["site-4"].reason.startswith("no grant")
    request = _request(flower_sites)
    direct = [run_query_site(request, site(s, floor=RULES), _synthetic(flower_sites)).feasibility for s in flower_sites]
    assert run.pooled_feasibility == pool_feasibility([d for d in direct if d is not None])
    outcomes = dict(_checks(HubStoreGrantChecker.from_url(hub_db)._factory))
    assert outcomes["dataset:site-4-cdm"] == "deny" and outcomes["dataset:site-1-cdm"] == "allow"
