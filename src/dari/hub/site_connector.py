"""The portal's site connector: the sites whose folders are on the hub's machine answer query jobs in-process.

A portal feasibility count must come back in seconds; Flower's simulation engine spends about 10 s starting Ray
before the first site works. For the sites named in `HubSettings.site_folders` (the demo's site folders), the
connector runs each site's job with **the same function the site's ClientApp calls** (`run_query_site`,
`run_forecast_site`), so every site passes the same `SiteGuard`: the hub's signed ticket (issued here, audited as
`job.ticket`), the grant checked now on the hub store, the site's floor, the site's release ledger and audit. The
replies then pass the hub's re-check (`admit_site_reply`) as a Flower reply would. Remote hospitals stay on the
Flower deployment engine (`dari.federation.flower.query_apps`); see docs/federated-queries.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from dari.cohort import CohortDefinition
from dari.disclosure import DisclosureRules
from dari.errors import InputError
from dari.hub.governance.decision import GrantDecision
from dari.hub.settings import HubSettings

if TYPE_CHECKING:
    from dari.federation.flower.grants import GrantChecker
    from dari.federation.flower.query_jobs import QueryRequest, QueryRun
    from dari.federation.forecast_job import ForecastRequest, ForecastSiteReport
    from dari.federation.guard import SiteBinding

Req = TypeVar("Req", bound=BaseModel)
Rep = TypeVar("Rep", bound=BaseModel)


class _SerialChecker:
    """The hub store's grant checker, one check at a time (each check appends to the hub's hash-chained audit)."""

    def __init__(self, inner: GrantChecker) -> None:
        self._inner, self._lock = inner, threading.Lock()

    def check(self, username: str, dataset_id: str, analysis_type: str) -> GrantDecision:
        """The inner checker's audited decision."""
        with self._lock:
            return self._inner.check(username, dataset_id, analysis_type)


class SiteConnector:
    """Runs guarded site jobs for the sites whose folders this hub holds (`HubSettings.site_folders`)."""

    def __init__(self, settings: HubSettings, factory: sessionmaker[Session]) -> None:
        self.settings, self._factory = settings, factory

    @property
    def sites(self) -> dict[str, Path]:
        """Site id → folder, in site order."""
        return dict(sorted(self.settings.site_folders.items()))

    def _require_sites(self) -> dict[str, Path]:
        sites = self.sites
        if not sites:
            raise InputError("this hub has no site connector configured (HubSettings.site_folders is empty)")
        return sites

    def _bindings(self) -> dict[str, SiteBinding]:
        from dari.federation.guard import SiteBinding
        from dari.federation.ticket import hub_public_pem

        pem = hub_public_pem(self.settings.database)  # the sites trust this hub's key, as a SuperNode's config says
        floor = self.settings.disclosure
        return {
            s: SiteBinding(site_id=s, folder=str(f), floor=floor, hub_public_key=pem) for s, f in self.sites.items()
        }

    def _ticketed(self, request: Req, analysis_type: str) -> Req:
        """The request with the hub's signed ticket for every site the requester's grant covers, and its audit head."""
        from dari.federation.ticket import issue_tickets, params_sha256
        from dari.hub.audit_checkpoint import store_checkpoint

        fields = request.model_dump()
        tickets = issue_tickets(
            self.settings.database,
            job_id=fields["job_id"],
            requester=fields["requester"],
            datasets=fields["datasets"],
            analysis_type=analysis_type,
            model_sha256=None,
            params_hash=params_sha256(request),
        )
        checkpoint = store_checkpoint(self.settings.database)
        return request.model_copy(update={"tickets": tickets, "audit_checkpoint": checkpoint})

    def _run_sites(self, *jobs: _Job[BaseModel]) -> list[dict[str, BaseModel]]:
        """Every job's report from every site, all in one pool of worker threads (each through its site's guard),
        then through the hub's re-check; one list entry per job, in order."""
        from dari.federation.flower.grants import HubStoreGrantChecker
        from dari.federation.register import admit_site_reply

        checker = _SerialChecker(HubStoreGrantChecker(self._factory))
        bindings = self._bindings()
        workers = min(self.settings.connector_workers, len(bindings) * len(jobs))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dari-site") as pool:
            futures = [{s: pool.submit(job.run_site, b, checker) for s, b in bindings.items()} for job in jobs]
            raw = [{s: f.result() for s, f in per_job.items()} for per_job in futures]
        return [
            {s: admit_site_reply(job.record, r.model_dump_json(), job.rules) for s, r in replies.items()}
            for job, replies in zip(jobs, raw, strict=True)
        ]

    def _query_request(self, requester: str, definition: CohortDefinition) -> QueryRequest:
        from dari.federation.flower.query_jobs import QueryRequest

        datasets = {s: f"{s}-cdm" for s in self._require_sites()}
        request = QueryRequest(
            kind="feasibility",
            requester=requester,
            datasets=datasets,
            definition=definition,
            disclosure=self.settings.disclosure,
        )
        return self._ticketed(request, request.analysis_type)

    def _forecast_request(
        self, requester: str, definition: CohortDefinition, lookback_months: int | None, horizon_months: int
    ) -> ForecastRequest:
        from dari.federation.forecast_job import ForecastRequest

        request = ForecastRequest(
            requester=requester,
            datasets={s: f"{s}-cdm" for s in self._require_sites()},
            definition=definition,
            lookback_months=lookback_months,
            horizon_months=horizon_months,
            disclosure=self.settings.disclosure,
        )
        return self._ticketed(request, request.analysis_type)

    @staticmethod
    def _query_job(request: QueryRequest) -> _Job[BaseModel]:
        from dari.federation.flower.query_apps import run_query_site
        from dari.federation.flower.query_jobs import QuerySiteReport

        return _Job(lambda b, c: run_query_site(request, b, c), QuerySiteReport, request.disclosure)

    @staticmethod
    def _forecast_job(request: ForecastRequest) -> _Job[BaseModel]:
        from dari.federation.forecast_job import ForecastSiteReport, run_forecast_site

        return _Job(lambda b, c: run_forecast_site(request, b, c), ForecastSiteReport, request.disclosure)

    @staticmethod
    def _pooled(request: QueryRequest, reports: Mapping[str, BaseModel], started: float) -> QueryRun:
        from dari.federation.flower.query_apps import _checked, pool_reports
        from dari.federation.flower.query_jobs import QuerySiteReport

        checked = {s: _checked(request, r) for s, r in reports.items() if isinstance(r, QuerySiteReport)}
        return pool_reports(request, checked, "connector", started)

    def feasibility(self, requester: str, definition: CohortDefinition) -> QueryRun:
        """A federated feasibility count over the connected sites, under the requester's `feasibility` grant."""
        started = time.monotonic()
        request = self._query_request(requester, definition)
        (reports,) = self._run_sites(self._query_job(request))
        return self._pooled(request, reports, started)

    def forecast(
        self,
        requester: str,
        definition: CohortDefinition,
        *,
        lookback_months: int | None = None,
        horizon_months: int = 12,
    ) -> dict[str, ForecastSiteReport]:
        """Every connected site's protected recruitment forecast, under the requester's `feasibility` grant."""
        request = self._forecast_request(requester, definition, lookback_months, horizon_months)
        (reports,) = self._run_sites(self._forecast_job(request))
        return _forecasts(reports, definition.digest())

    def count(
        self,
        requester: str,
        definition: CohortDefinition,
        *,
        lookback_months: int | None = None,
        horizon_months: int = 12,
    ) -> tuple[QueryRun, dict[str, ForecastSiteReport]]:
        """Both jobs of the builder's "Count at every site": the count first, then the forecast (two jobs, two
        tickets per site, each through the site's guard). In this order, not together: where the forecast's persons
        would difference the count's at a site, the ledger refuses the later release, and that must be the forecast."""
        run = self.feasibility(requester, definition)
        return run, self.forecast(requester, definition, lookback_months=lookback_months, horizon_months=horizon_months)


@dataclass(frozen=True)
class _Job(Generic[Rep]):
    """One job type's site function, its reply record and the rules the hub re-checks it under."""

    run_site: Callable[[SiteBinding, GrantChecker], Rep]
    record: type[Rep]
    rules: DisclosureRules


def _forecasts(reports: Mapping[str, BaseModel], digest: str) -> dict[str, ForecastSiteReport]:
    from dari.federation.forecast_job import ForecastSiteReport

    return {s: _same_job(r, digest) for s, r in reports.items() if isinstance(r, ForecastSiteReport)}


def _same_job(report: ForecastSiteReport, digest: str) -> ForecastSiteReport:
    """An ok forecast must answer this site and definition; otherwise the hub counts it failed."""
    from dari.federation.forecast_job import ForecastSiteReport

    fc = report.forecast
    if fc is None or (fc.site == report.site_id and fc.definition_digest == digest):
        return report
    return ForecastSiteReport(
        site_id=report.site_id, dataset_id=report.dataset_id, status="failed", reason="answered another job"
    )
