"""Joint DRB review: every involved site decides by its own quorum; the grant follows only from all approvals.

Site decision: rejected as soon as one of its DRB members rejects; approved once `drb_quorum` members approved
(with or without conditions); pending otherwise. Application: rejected when any site rejects, approved when every
involved site approved (the access grant is issued in the same transaction), under review otherwise.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.hub import audit, notifications
from dari.hub.db.models import Application, ApplicationDataset, Dataset, Review, Site, User, utcnow
from dari.hub.governance.applications import get_application, involved_sites
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError
from dari.hub.governance.grants import issue_grant
from dari.hub.governance.roles import Permission, allowed


class Decision(StrEnum):
    """What a DRB member can decide."""

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REJECT = "reject"


DECISION_LABELS: dict[str, tuple[str, str]] = {
    "approve": ("승인", "Approve"),
    "approve_with_conditions": ("조건부 승인", "Approve with conditions"),
    "reject": ("반려", "Reject"),
}


class ReviewCreate(BaseModel):
    """A DRB member's vote as submitted."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    decision: Decision
    comment: str = Field(default="", max_length=5000)


def site_status(session: Session, application: Application, site_id: str) -> str:
    """'approved', 'rejected' or 'pending' for one involved site."""
    votes = [r for r in application.reviews if r.site_id == site_id]
    if any(r.decision == Decision.REJECT for r in votes):
        return "rejected"
    site = session.get(Site, site_id)
    quorum = site.drb_quorum if site else 1
    return "approved" if len(votes) >= quorum else "pending"


def review_queue(session: Session, reviewer: User) -> list[Application]:
    """Applications under review that request the reviewer's site's data and await the reviewer's vote."""
    if not allowed(reviewer.role, Permission.REVIEW) or reviewer.site_id is None:
        raise ForbiddenError(f"role {reviewer.role} has no DRB review queue")
    requesting = select(ApplicationDataset.application_id).join(Dataset).where(Dataset.site_id == reviewer.site_id)
    query = (
        select(Application)
        .where(Application.status == "under_review", Application.id.in_(requesting))
        .order_by(Application.id)
    )
    return [a for a in session.execute(query).scalars() if all(r.reviewer_id != reviewer.id for r in a.reviews)]


def record_review(session: Session, reviewer: User, application_id: int, vote: ReviewCreate) -> Application:
    """Record one DRB member's decision for their site and settle the application when it can be settled."""
    application = get_application(session, application_id)
    sites = involved_sites(application)
    if not allowed(reviewer.role, Permission.REVIEW):
        raise ForbiddenError(f"role {reviewer.role} may not review applications")
    if reviewer.site_id not in sites:
        raise ForbiddenError(f"application {application_id} does not request data of the reviewer's site")
    if application.status != "under_review":
        raise ConflictError(f"application {application_id} is {application.status}; it takes no more votes")
    if any(r.reviewer_id == reviewer.id for r in application.reviews):
        raise ConflictError(f"{reviewer.username} has already voted on application {application_id}")
    if vote.decision != Decision.APPROVE and not vote.comment:
        raise ConflictError("a rejection or a conditional approval needs a comment that says why")
    application.reviews.append(
        Review(site_id=reviewer.site_id, reviewer_id=reviewer.id, decision=vote.decision.value, comment=vote.comment)
    )
    session.flush()
    audit.record(
        session,
        actor=reviewer.username,
        action="drb.review",
        target=f"application:{application_id}",
        detail={"site": reviewer.site_id, "decision": vote.decision.value},
    )
    statuses = {site: site_status(session, application, site) for site in sites}
    if "rejected" in statuses.values():
        _settle(session, application, "rejected", statuses)
    elif all(s == "approved" for s in statuses.values()):
        _settle(session, application, "approved", statuses)
        issue_grant(session, application)
    return application


def _settle(session: Session, application: Application, status: str, statuses: dict[str, str]) -> None:
    application.status = status
    application.decided_at = utcnow()
    audit.record(
        session,
        actor="hub",
        action=f"application.{status}",
        target=f"application:{application.id}",
        detail={"sites": statuses},
    )
    notifications.notify(
        session,
        application.applicant,
        "application_decided",
        f"연구 신청 {application.id}: {'승인' if status == 'approved' else '반려'}",
        f"Application {application.id}: {status}",
        f"/applications/{application.id}",
    )


def site_statuses(session: Session, application: Application) -> dict[str, str]:
    """Every involved site's current decision."""
    return {site: site_status(session, application, site) for site in involved_sites(application)}


def get_site(session: Session, site_id: str) -> Site:
    """A site by id."""
    site = session.get(Site, site_id)
    if site is None:
        raise NotFoundError(f"unknown site {site_id!r}")
    return site
