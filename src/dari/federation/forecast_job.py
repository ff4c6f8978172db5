"""The recruitment-forecast job at a site: typed request and report, run through the one site guard.

`run_forecast_site` passes the job through `dari.federation.guard.SiteGuard` (the site's own dataset, the hub's
signed ticket, the grant for analysis type `feasibility`, the site's floor, its audit) before it opens the CDM;
then `dari.cohort.forecast.recruitment` under the site's release ledger. Only the protected
`RecruitmentForecast` leaves (registered in `dari.federation.register`). It never raises: a refusal or a failure
is a report with a reason.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dari.cdm.store import open_store
from dari.cohort import CohortDefinition
from dari.cohort.forecast import RecruitmentForecast, recruitment
from dari.disclosure import DisclosureRules
from dari.federation.flower.grants import GrantChecker
from dari.federation.guard import Admission, JobClaim, SiteBinding, SiteGuard
from dari.federation.ticket import params_sha256
from dari.signing import SignedEnvelope

#: The grant a forecast needs: it is part of feasibility (how many, how fast), not an analysis of its own.
ANALYSIS_TYPE = "feasibility"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ForecastRequest(_Record):
    """What the hub asks every site: the cohort's monthly recruitment and a forecast for the next months."""

    job_id: str = Field(default_factory=lambda: "forecast-" + uuid.uuid4().hex[:12], pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    requester: str = Field(min_length=1, max_length=64)
    datasets: dict[str, str] = Field(min_length=1, description="site id → dataset id the grant must cover")
    expected_grants: dict[str, str] = Field(default_factory=dict)
    definition: CohortDefinition
    lookback_months: int | None = Field(default=None, ge=6, le=240, description="None: the site's whole history")
    horizon_months: int = Field(default=12, ge=1, le=60)
    level: float = Field(default=0.9, ge=0.5, le=0.99)
    disclosure: DisclosureRules = Field(default_factory=DisclosureRules)
    tickets: dict[str, SignedEnvelope] = Field(default_factory=dict)
    audit_checkpoint: SignedEnvelope | None = None

    @property
    def analysis_type(self) -> str:
        """The analysis type the site's grant must cover."""
        return ANALYSIS_TYPE


class ForecastSiteReport(_Record):
    """One site's answer: its status and, when ok, its protected forecast (and nothing else)."""

    site_id: str
    dataset_id: str | None = None
    status: Literal["ok", "refused", "failed"]
    reason: str = ""
    grant_id: str | None = None
    forecast: RecruitmentForecast | None = None

    @model_validator(mode="after")
    def _ok_has_result(self) -> ForecastSiteReport:
        if (self.status == "ok") != (self.forecast is not None):
            raise ValueError("an ok report carries a forecast; a refused or failed one none")
        return self


def forecast_claim(request: ForecastRequest) -> JobClaim:
    """What a forecast job claims, for the site guard (its parameters' hash computed here, at the site)."""
    return JobClaim(
        job_id=request.job_id,
        requester=request.requester,
        analysis_type=request.analysis_type,
        datasets=request.datasets,
        model_sha256=None,
        params_sha256=params_sha256(request),
        tickets=request.tickets,
        expected_grants=request.expected_grants,
        audit_checkpoint=request.audit_checkpoint,
    )


def _answer(request: ForecastRequest, admission: Admission) -> ForecastSiteReport:
    ledger = admission.open_ledger()  # the monthly person sets are recorded; a differencing month is refused
    store = open_store(Path(admission.site_folder))
    try:
        result = recruitment(
            store,
            request.definition,
            site=admission.site_id,
            lookback_months=request.lookback_months,
            horizon_months=request.horizon_months,
            level=request.level,
            rules=admission.rules,
            ledger=ledger,
        )
    finally:
        store.close()
        ledger.close()
    return ForecastSiteReport(
        site_id=admission.site_id,
        dataset_id=admission.dataset_id,
        grant_id=admission.grant_id,
        status="ok",
        forecast=result,
    )


def run_forecast_site(request: ForecastRequest, site: SiteBinding, checker: GrantChecker) -> ForecastSiteReport:
    """This site's report for a forecast job: through the site guard, then the protected forecast, or why not."""
    outcome = SiteGuard(site, checker).run(
        forecast_claim(request), request.disclosure, lambda admission: _answer(request, admission)
    )
    if outcome.result is not None:
        return outcome.result
    return ForecastSiteReport(
        site_id=site.site_id,
        dataset_id=outcome.dataset_id,
        status=outcome.status,
        reason=outcome.reason,
        grant_id=outcome.grant_id,
    )
