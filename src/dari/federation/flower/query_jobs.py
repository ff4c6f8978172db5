"""Typed records of the two federated query jobs: feasibility counts and characterisation (Table 1).

The hub sends one `QueryRequest` to every site; each answers with a `QuerySiteReport` that holds, when ok, only
the protected result of `dari.cohort` (`FeasibilityResult` or `TableOne`: every count suppressed or rounded at the
site); the hub pools the ok reports into a `QueryRun`. Every record is a frozen pydantic model with no unknown
fields, serialised to JSON inside a Flower `ConfigRecord`.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dari.cohort import (
    CohortDefinition,
    FeasibilityResult,
    PooledFeasibility,
    PooledTableOne,
    TableOne,
    TableOneRequest,
)
from dari.disclosure import DisclosureRules
from dari.signing import SignedEnvelope

QueryKind = Literal["feasibility", "characterisation"]
SiteStatus = Literal["ok", "refused", "failed"]

#: The hub's analysis type (`dari.hub.governance.applications.AnalysisType`) a grant must name for each job.
ANALYSIS_TYPES: dict[QueryKind, str] = {"feasibility": "feasibility", "characterisation": "characterisation"}


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


class QueryRequest(_Record):
    """What the hub asks every site: run this cohort definition (and Table 1 request) under these rules."""

    job_id: str = Field(default_factory=lambda: "query-" + uuid.uuid4().hex[:12], pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: QueryKind
    requester: str = Field(min_length=1, max_length=64)
    datasets: dict[str, str] = Field(min_length=1, description="site id → dataset id the grant must cover")
    expected_grants: dict[str, str] = Field(default_factory=dict, description="dataset id → grant id (optional)")
    definition: CohortDefinition
    table_one: TableOneRequest | None = Field(default=None, description="characterisation only: what Table 1 shows")
    age_band_years: Literal[5, 10] = 10
    disclosure: DisclosureRules = Field(default_factory=DisclosureRules)
    tickets: dict[str, SignedEnvelope] = Field(
        default_factory=dict, description="site id → the hub's signed ticket (`dari.federation.ticket`)"
    )
    audit_checkpoint: SignedEnvelope | None = Field(
        default=None, description="the hub's signed audit head (`dari.hub.audit_checkpoint`), kept by each site"
    )

    @model_validator(mode="after")
    def _request_matches_kind(self) -> QueryRequest:
        if self.kind == "characterisation" and self.table_one is None:
            raise ValueError("a characterisation job needs a Table 1 request (table_one)")
        if self.kind == "feasibility" and self.table_one is not None:
            raise ValueError("a feasibility job takes no Table 1 request")
        return self

    @property
    def analysis_type(self) -> str:
        """The analysis type the site's grant must cover."""
        return ANALYSIS_TYPES[self.kind]


class QuerySiteReport(_Record):
    """One site's answer: its status and, when ok, its protected result (and nothing else)."""

    site_id: str
    dataset_id: str | None = None
    status: SiteStatus
    reason: str = ""
    grant_id: str | None = None
    feasibility: FeasibilityResult | None = None
    table_one: TableOne | None = None

    @model_validator(mode="after")
    def _ok_has_one_result(self) -> QuerySiteReport:
        results = sum(r is not None for r in (self.feasibility, self.table_one))
        if self.status == "ok" and results != 1:
            raise ValueError("an ok report carries exactly one result (feasibility or table_one)")
        if self.status != "ok" and results:
            raise ValueError("a refused or failed report carries no result")
        return self


class QueryRun(_Record):
    """The job's outcome: every expected site's report and the pooled figures over the sites in `covered`."""

    job_id: str
    kind: QueryKind
    requester: str
    definition_name: str
    definition_digest: str
    sites: dict[str, QuerySiteReport]
    covered: tuple[str, ...] = Field(description="sites whose protected results the pooled figures include")
    refused: tuple[str, ...]
    failed: tuple[str, ...]
    pooled_feasibility: PooledFeasibility | None = None
    pooled_table_one: PooledTableOne | None = None
    pooling_error: str = Field(default="", description="why the ok results could not be pooled, if they could not")
    engine: Literal["simulation", "deployment", "connector"]
    wall_seconds: float = 0.0

    @property
    def pooled(self) -> PooledFeasibility | PooledTableOne | None:
        """The pooled result of whichever kind the job was."""
        return self.pooled_feasibility if self.kind == "feasibility" else self.pooled_table_one
