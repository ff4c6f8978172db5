"""REST API of monitoring in real use: sites publish, governance reads; the CDS service asks the deployment gate."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from dari.hub.db.models import User
from dari.hub.governance.deployment import DeploymentDecision, deployment_allowed
from dari.hub.governance.errors import ForbiddenError
from dari.hub.governance.roles import Permission, Role
from dari.hub.monitoring import (
    AlertRecord,
    InferencePage,
    SiteTimeline,
    alerts,
    inferences,
    ingest_publication,
    may_see_inferences,
    model_timelines,
)
from dari.hub.web.deps import ApiUser, DbSession, requires, unit_of_work
from dari.monitoring.publication import MonitoringPublication

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
Watcher = Annotated[User, Depends(requires(Permission.VIEW_MONITORING, api=True))]
Publisher = Annotated[User, Depends(requires(Permission.PUBLISH_MONITORING, api=True))]
SHA256_PATTERN = r"^[0-9a-f]{64}$"
SITE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # the ids `dari hub site add` accepts
ModelSha = Annotated[str, Path(pattern=SHA256_PATTERN, description="SHA-256 of the model's ONNX file")]
SiteParam = Annotated[str, Query(pattern=SITE_PATTERN)]
# Bounded so that an absurd number is a 422, not an overflow inside the database driver.
Offset = Annotated[int, Query(ge=0, le=2_147_483_647)]


class PublicationAccepted(BaseModel):
    """The id under which the hub keeps a publication."""

    model_config = ConfigDict(frozen=True)
    id: str


class DeploymentCheck(BaseModel):
    """The CDS service's question: may this model serve care at this site now?"""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model_sha256: str = Field(pattern=SHA256_PATTERN)
    site_id: str = Field(pattern=SITE_PATTERN)


@router.post("/monitoring", status_code=201)
def publish(body: MonitoringPublication, session: DbSession, user: Publisher) -> PublicationAccepted:
    """A site's monitoring of a deployed model (its own steward's token, or an admin's); audited."""
    with unit_of_work(session):
        return PublicationAccepted(id=ingest_publication(session, user, body))


@router.get("/models/{model_sha256}/monitoring")
def monitoring(
    model_sha256: ModelSha, session: DbSession, user: Watcher, site: SiteParam | None = None
) -> list[SiteTimeline]:
    """The model's monitoring windows, oldest first, per site that published (or at `site` only)."""
    return model_timelines(session, model_sha256, site)


@router.get("/models/{model_sha256}/inferences")
def inference_audit(
    model_sha256: ModelSha,
    session: DbSession,
    user: Watcher,
    site: SiteParam,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> InferencePage:
    """A page of the model's inference audit at a site, newest first (that site's own roles, or an admin)."""
    if not may_see_inferences(user, site):
        raise ForbiddenError(f"the inference audit of {site} is for that site's own roles and admins")
    return inferences(session, model_sha256, site, status, since, until, limit, offset)


@router.get("/alerts")
def alert_list(
    session: DbSession,
    user: Watcher,
    model: Annotated[str | None, Query(pattern=SHA256_PATTERN)] = None,
    site: SiteParam | None = None,
    since: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertRecord]:
    """Alerts of the latest version of every window, newest window first; `since`: windows ending after it."""
    return alerts(session, model, site, since, limit)


@router.post("/deployments/check")
def deployment_check(body: DeploymentCheck, session: DbSession, user: ApiUser) -> DeploymentDecision:
    """The deployment gate now (the CDS service asks about once a second): the site's steward token or an admin."""
    if user.role != Role.PLATFORM_ADMIN and (user.role != Role.DATA_STEWARD or user.site_id != body.site_id):
        raise ForbiddenError("only the site's own steward token or an admin may check its deployments")
    return deployment_allowed(session, body.model_sha256, body.site_id)
