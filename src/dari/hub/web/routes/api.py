"""REST API (OpenAPI at /api/openapi.json): the portal's operations for programs, with bearer-token auth."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from dari.catalog.dataset import DatasetRecord
from dari.hub import audit
from dari.hub.audit_checkpoint import latest_checkpoint
from dari.hub.catalog import get_dataset, list_datasets
from dari.hub.db.models import Application, Dataset, Grant, User
from dari.hub.governance.applications import (
    ApplicationCreate,
    applications_of,
    can_view_application,
    get_application,
    submit_application,
)
from dari.hub.governance.decision import GrantDecision
from dari.hub.governance.errors import ForbiddenError
from dari.hub.governance.grants import (
    application_conditions,
    application_state,
    check_grant,
    grant_sites,
    grants_for_site,
    grants_of,
    revoke_grant,
    revoked_sites,
)
from dari.hub.governance.review import ReviewCreate, record_review, review_queue, site_statuses
from dari.hub.governance.roles import Permission
from dari.hub.keys import hub_key_paths
from dari.hub.web.deps import ApiUser, ApplicationId, DbSession, requires, state, unit_of_work
from dari.signing import SignedEnvelope

router = APIRouter(prefix="/api/v1", tags=["hub"])
Searcher = Annotated[User, Depends(requires(Permission.SEARCH_CATALOG, api=True))]
Applicant = Annotated[User, Depends(requires(Permission.APPLY, api=True))]
Reviewer = Annotated[User, Depends(requires(Permission.REVIEW, api=True))]
Revoker = Annotated[User, Depends(requires(Permission.REVOKE_GRANT, api=True))]
Auditor = Annotated[User, Depends(requires(Permission.VIEW_AUDIT, api=True))]


class DatasetPublic(BaseModel):
    """A catalog entry as the API returns it."""

    model_config = ConfigDict(frozen=True)
    id: str
    site_id: str
    title: dict[str, str]
    description: dict[str, str]
    quality_score: float | None
    record: dict[str, Any]
    characterisation: dict[str, Any] | None


class ApplicationPublic(BaseModel):
    """An application and each involved site's decision."""

    model_config = ConfigDict(frozen=True)
    id: int
    title: str
    applicant: str
    irb_number: str
    dataset_ids: list[str]
    analysis_types: list[str]
    status: str
    state: str = Field(description="as shown: also approved_with_conditions, partially_revoked, revoked, expired")
    conditions: list[str] = Field(description="conditions of approval, each as 'site: text'")
    sites: dict[str, str]
    submitted_at: dt.datetime


class GrantPublic(BaseModel):
    """A grant: scope, period and whether it was revoked."""

    model_config = ConfigDict(frozen=True)
    id: str
    application_id: int
    grantee: str
    dataset_ids: list[str]
    analysis_types: list[str]
    conditions: list[str]
    valid_from: dt.datetime
    valid_until: dt.datetime
    revoked: bool
    sites: list[str] = Field(description="sites whose datasets the grant covers")
    revoked_sites: list[str] = Field(description="sites that revoked their part (every site once revoked whole)")


class SearchHitPublic(BaseModel):
    """One ranked search result."""

    model_config = ConfigDict(frozen=True)
    id: str
    kind: str
    title: str
    score: float
    layer: str
    expanded: list[str]


class GrantCheck(BaseModel):
    """The question a site node asks before running a job."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    dataset_id: str = Field(min_length=1, max_length=128)
    analysis_type: Literal["feasibility", "characterisation", "model_validation", "federated_training", "research_pod"]


class RevokeRequest(BaseModel):
    """Why a grant is revoked."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class AuditStatus(BaseModel):
    """Whether the audit chain verifies."""

    model_config = ConfigDict(frozen=True)
    entries: int
    ok: bool
    problems: list[dict[str, Any]]


def _dataset(d: Dataset) -> DatasetPublic:
    return DatasetPublic(
        id=d.id,
        site_id=d.site_id,
        title={"ko": d.title_ko, "en": d.title_en},
        description={"ko": d.description_ko, "en": d.description_en},
        quality_score=d.quality_score,
        record=d.record,
        characterisation=d.characterisation,
    )


def _application(session: DbSession, a: Application) -> ApplicationPublic:
    return ApplicationPublic(
        id=a.id,
        title=a.title,
        applicant=a.applicant.username,
        irb_number=a.irb_number,
        dataset_ids=sorted(link.dataset_id for link in a.datasets),
        analysis_types=a.analysis_types,
        status=a.status,
        state=application_state(session, a),
        conditions=application_conditions(a),
        sites=site_statuses(session, a),
        submitted_at=a.submitted_at,
    )


def _grant(g: Grant) -> GrantPublic:
    return GrantPublic(
        id=g.id,
        application_id=g.application_id,
        grantee=g.grantee.username,
        dataset_ids=g.dataset_ids,
        analysis_types=g.analysis_types,
        conditions=g.conditions,
        valid_from=g.valid_from,
        valid_until=g.valid_until,
        revoked=g.revoked_at is not None,
        sites=sorted(grant_sites(g)),
        revoked_sites=sorted(revoked_sites(g)),
    )


@router.get("/datasets")
def datasets(session: DbSession, user: Searcher) -> list[DatasetPublic]:
    """Every published dataset."""
    return [_dataset(d) for d in list_datasets(session)]


@router.get("/datasets/{dataset_id}")
def dataset(dataset_id: str, session: DbSession, user: Searcher) -> DatasetPublic:
    """One dataset."""
    return _dataset(get_dataset(session, dataset_id))


@router.get("/datasets/{dataset_id}/dcat", response_model=None)
def dataset_dcat(dataset_id: str, session: DbSession, user: Searcher) -> dict[str, Any]:
    """The dataset as DCAT / HealthDCAT-AP JSON-LD, for harvesting."""
    import json

    record = DatasetRecord.model_validate(get_dataset(session, dataset_id).record)
    result: dict[str, Any] = json.loads(record.to_jsonld())
    return result


@router.get("/search")
def search(
    request: Request,
    session: DbSession,
    user: Searcher,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    kind: Annotated[Literal["dataset", "concept"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[SearchHitPublic]:
    """Bilingual search over datasets and clinical concepts."""
    results = state(request).search.index(session).search(q, kind=kind, limit=limit)
    return [
        SearchHitPublic(
            id=h.document.id,
            kind=h.document.kind,
            title=h.document.title,
            score=h.score,
            layer=h.layer,
            expanded=list(h.expanded),
        )
        for h in results
    ]


@router.post("/applications", status_code=201)
def create_application(data: ApplicationCreate, session: DbSession, user: Applicant) -> ApplicationPublic:
    """Submit a study application (send a `submission_key` to make retries safe)."""
    with unit_of_work(session):
        application = submit_application(session, user, data)
        return _application(session, application)


@router.get("/applications")
def my_applications(session: DbSession, user: Applicant) -> list[ApplicationPublic]:
    """The caller's applications."""
    return [_application(session, a) for a in applications_of(session, user)]


@router.get("/applications/{application_id}")
def application(application_id: ApplicationId, session: DbSession, user: ApiUser) -> ApplicationPublic:
    """One application (applicant, involved DRBs and stewards, admins)."""
    found = get_application(session, application_id)
    if not can_view_application(user, found):
        raise ForbiddenError(f"{user.role} may not see application {application_id}")
    return _application(session, found)


@router.get("/reviews/queue")
def queue(session: DbSession, user: Reviewer) -> list[ApplicationPublic]:
    """Applications awaiting the caller's DRB vote."""
    return [_application(session, a) for a in review_queue(session, user)]


@router.post("/applications/{application_id}/reviews")
def review(application_id: ApplicationId, vote: ReviewCreate, session: DbSession, user: Reviewer) -> ApplicationPublic:
    """Record the caller's DRB decision for their site."""
    with unit_of_work(session):
        return _application(session, record_review(session, user, application_id, vote))


@router.get("/grants")
def grants(session: DbSession, user: ApiUser) -> list[GrantPublic]:
    """Grants the caller holds, or those covering the caller's site (DRB members, stewards)."""
    if user.site_id and user.role in ("drb_member", "data_steward"):
        return [_grant(g) for g in grants_for_site(session, user.site_id)]
    return [_grant(g) for g in grants_of(session, user)]


@router.post("/grants/{grant_id}/revoke")
def revoke(grant_id: str, body: RevokeRequest, session: DbSession, user: Revoker) -> GrantPublic:
    """Revoke a grant at once."""
    with unit_of_work(session):
        return _grant(revoke_grant(session, user, grant_id, body.reason))


@router.post("/grants/check")
def grant_check(body: GrantCheck, session: DbSession, user: ApiUser) -> GrantDecision:
    """The site node's question before any job: may this user run this analysis on this dataset now? (audited)"""
    if user.role != "platform_admin":
        found = get_dataset(session, body.dataset_id)
        if user.role != "data_steward" or user.site_id != found.site_id:
            raise ForbiddenError("only the dataset's own site (its steward's token) or an admin may check grants")
    with unit_of_work(session):
        return check_grant(session, body.username, body.dataset_id, body.analysis_type)


@router.get("/audit/verify")
def audit_verify(session: DbSession, user: Auditor) -> AuditStatus:
    """Recompute the audit log's hash chain."""
    result = audit.verify(session)
    return AuditStatus(entries=result.entries, ok=result.ok, problems=[p.model_dump() for p in result.problems])


@router.get("/audit/checkpoint")
def audit_checkpoint(request: Request, session: DbSession, user: ApiUser) -> SignedEnvelope:
    """The audit chain's current head signed with the hub's key: keep it outside the hub (`WitnessStore`)."""
    return latest_checkpoint(session, hub_key_paths(state(request).settings.database))
