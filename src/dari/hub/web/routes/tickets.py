"""REST route of signed job tickets: a researcher's API token asks the hub for one ticket per site of a job.

The requester in every ticket is the authenticated user, never a name in the body, so a site that verifies the
ticket knows who asked (issue 13, leak 7). The hub signs with its key file (`dari.hub.keys`, beside the store or
named by `DARI_HUB_KEY`), only where its own `check_grant` says yes; every ticket, issued or not, is audited as
`job.ticket`. Wire with `app.include_router(tickets.router)` in `dari.hub.web.app.create_app`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dari.federation.ticket import DEFAULT_MAX_ROUNDS, issue_ticket
from dari.hub.governance.applications import AnalysisType
from dari.hub.keys import hub_key_paths
from dari.hub.web.deps import ApiUser, DbSession, state, unit_of_work
from dari.signing import SignedEnvelope

router = APIRouter(prefix="/api/v1", tags=["jobs"])
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class TicketRequest(BaseModel):
    """What a job's tickets will bind: the job, its sites and datasets, its analysis type and its hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    job_id: Identifier
    analysis_type: AnalysisType
    datasets: dict[Identifier, Identifier] = Field(min_length=1, max_length=50, description="site id → dataset id")
    model_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    params_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="`dari.federation.ticket.params_sha256`")
    max_rounds: int = Field(default=DEFAULT_MAX_ROUNDS, ge=1, le=100)

    @field_validator("analysis_type")
    @classmethod
    def _not_a_pod(cls, value: AnalysisType) -> AnalysisType:
        # A pod's ticket binds the bundle the hub stored and audited: it is issued only when the site pulls it.
        if value == AnalysisType.RESEARCH_POD:
            raise ValueError("research pods get their ticket when the site pulls the submission (/api/v1/pods)")
        return value


class TicketsPublic(BaseModel):
    """The tickets issued (site id → envelope), why the others were not, and who they name as requester."""

    model_config = ConfigDict(frozen=True)
    requester: str
    tickets: dict[str, SignedEnvelope]
    refused: dict[str, str]


@router.post("/jobs/tickets")
def job_tickets(body: TicketRequest, request: Request, session: DbSession, user: ApiUser) -> TicketsPublic:
    """One signed ticket per site whose dataset the caller's own grant covers now (audited per site)."""
    key = hub_key_paths(state(request).settings.database).private_key()
    tickets: dict[str, SignedEnvelope] = {}
    refused: dict[str, str] = {}
    with unit_of_work(session):
        for site_id, dataset_id in body.datasets.items():
            envelope, reason = issue_ticket(
                session,
                key,
                job_id=body.job_id,
                requester=user.username,
                site_id=site_id,
                dataset_id=dataset_id,
                analysis_type=body.analysis_type.value,
                model_sha256=body.model_sha256,
                params_hash=body.params_sha256,
                max_rounds=body.max_rounds,
            )
            if envelope is None:
                refused[site_id] = reason
            else:
                tickets[site_id] = envelope
    return TicketsPublic(requester=user.username, tickets=tickets, refused=refused)
