"""The portal's site connector: each site's query and forecast jobs through the site guard, in-process."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from feasibility_helpers import build_hub, build_sites
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.cohort import load_definition
from dari.errors import InputError
from dari.federation.site_audit import SiteAuditLog
from dari.hub.db.models import AuditEntry
from dari.hub.settings import HubSettings
from dari.hub.site_connector import SiteConnector

DEFINITION = Path(str(resources.files("dari.cohort") / "examples" / "ckd_g3.json"))


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[HubSettings, sessionmaker[Session]]:
    root = tmp_path_factory.mktemp("feas-connector")
    sites = build_sites(root)
    factory = build_hub(root / "hub.db")
    return HubSettings(database=str(root / "hub.db"), site_folders=sites), factory


def _site_events(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in SiteAuditLog(folder).path.read_text(encoding="utf-8").splitlines()]


def test_feasibility_connector_counts_the_granted_site_and_refuses_the_other(
    network: tuple[HubSettings, sessionmaker[Session]],
) -> None:
    # Prepare: the researcher's feasibility grant covers site-1 only
    settings, factory = network
    connector = SiteConnector(settings, factory)
    # Execute
    run = connector.feasibility("researcher", load_definition(DEFINITION))
    # Assert: site-1 answered with protected attrition; site-2 refused for want of a grant, before any data
    assert run.engine == "connector" and run.covered == ("site-1",) and run.refused == ("site-2",)
    ok = run.sites["site-1"].feasibility
    assert ok is not None and [s.name for s in ok.attrition][-2:] == [
        "confirmatory eGFR 30-59 from 90 to 365 days after index",
        "no dialysis before index",
    ]
    assert all(s.remaining.shown == "<10" or s.remaining.value for s in ok.attrition)
    assert "no grant" in run.sites["site-2"].reason
    # Assert: both ends audited — the site's own log refused the job, the hub denied the grant check
    refused = [e for e in _site_events(settings.site_folders["site-2"]) if e["event"] == "job.refuse"]
    assert refused and refused[-1]["details"]["job"] == run.job_id
    assert not any(e["event"] == "job.admit" for e in _site_events(settings.site_folders["site-2"]))
    with factory() as s:
        checks = s.execute(select(AuditEntry).where(AuditEntry.action.in_(["grant.check", "job.ticket"]))).scalars()
        outcomes = {(e.action, e.outcome) for e in checks if "site-2" in e.target}
    assert ("grant.check", "deny") in outcomes


def test_feasibility_connector_forecast_is_guarded_and_protected(
    network: tuple[HubSettings, sessionmaker[Session]],
) -> None:
    settings, factory = network
    reports = SiteConnector(settings, factory).forecast(
        "researcher", load_definition(DEFINITION), lookback_months=24, horizon_months=6
    )
    assert reports["site-2"].status == "refused" and reports["site-2"].forecast is None
    fc = reports["site-1"].forecast
    assert fc is not None and len(fc.monthly) == 24 and fc.horizon_months == 6
    assert all(m.persons.suppressed or m.persons.value % 5 == 0 for m in fc.monthly)  # type: ignore[operator]
    assert fc.low.shown == "<10" or (fc.low.value or 0) <= (fc.high.value or 0)


def test_feasibility_connector_unknown_user_is_refused_everywhere(
    network: tuple[HubSettings, sessionmaker[Session]],
) -> None:
    settings, factory = network
    run = SiteConnector(settings, factory).feasibility("vendor", load_definition(DEFINITION))
    assert run.covered == () and set(run.refused) == {"site-1", "site-2"} and run.pooled is None


def test_feasibility_connector_without_sites_says_so(network: tuple[HubSettings, sessionmaker[Session]]) -> None:
    settings, factory = network
    bare = settings.model_copy(update={"site_folders": {}})
    with pytest.raises(InputError, match="site_folders"):
        SiteConnector(bare, factory).feasibility("researcher", load_definition(DEFINITION))
