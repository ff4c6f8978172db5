"""Clinicians' feedback on a model deployed at their site: stored, audited, seen by its vendor and the site's
deployment approvers (who are told of it)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.errors import InputError
from dari.hub import audit, notifications
from dari.hub.db.models import User
from dari.hub.db.roles_tables import ModelFeedback
from dari.hub.deployment_views import deployed_model
from dari.hub.governance.errors import ForbiddenError, NotFoundError


class Rating(StrEnum):
    """How the model's output served the clinician."""

    USEFUL = "useful"
    NOT_USEFUL = "not_useful"
    WRONG = "wrong"


RATING_LABELS: dict[Rating, tuple[str, str]] = {
    Rating.USEFUL: ("도움이 됨", "Useful"),
    Rating.NOT_USEFUL: ("도움이 되지 않음", "Not useful"),
    Rating.WRONG: ("틀린 결과", "Wrong output"),
}


class FeedbackCreate(BaseModel):
    """A feedback form as submitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rating: Rating
    comment: str = Field(min_length=1, max_length=4000)


def submit_feedback(session: Session, clinician: User, model_sha256: str, form: FeedbackCreate) -> ModelFeedback:
    """Store a clinician's feedback on a model deployed at their site now (audited; vendor and approvers told)."""
    if clinician.role != "clinician" or clinician.site_id is None:
        raise ForbiddenError(f"role {clinician.role} of {clinician.site_id or 'no site'} may not give model feedback")
    _refuse_identifiers(form.comment)
    deployed = deployed_model(session, clinician.site_id, model_sha256)
    if deployed is None:
        raise NotFoundError(f"model {model_sha256[:16]}… is not deployed at {clinician.site_id}")
    row = ModelFeedback(
        model_sha256=model_sha256,
        site_id=clinician.site_id,
        author_id=clinician.id,
        rating=form.rating.value,
        comment=form.comment.strip(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=clinician.username,
        action="model.feedback",
        target=f"model:{model_sha256[:16]}",
        detail={"site": clinician.site_id, "rating": form.rating.value, "feedback": row.id},
    )
    subject_ko = f"{deployed.model.name}에 대한 임상의 피드백 ({clinician.site_id})"
    subject_en = f"Clinician feedback on {deployed.model.name} ({clinician.site_id})"
    vendor = notifications.users_by_id(session, [deployed.model.registered_by])
    approvers = notifications.users_at_site(session, clinician.site_id, ["deployment_approver"])
    notifications.notify(session, vendor, "model_feedback", subject_ko, subject_en, "/vendor#feedback")
    notifications.notify(session, approvers, "model_feedback", subject_ko, subject_en, "/approvals#feedback")
    return row


def _refuse_identifiers(comment: str) -> None:
    """Feedback leaves the site for the vendor: refuse a comment holding a patient's number (the kind, not the
    value, is named)."""
    from dari.privacy.text.patterns import find_mrns, find_phones, find_rrns

    finders = (("resident registration number", find_rrns), ("phone number", find_phones), ("record number", find_mrns))
    for kind, finder in finders:
        if finder(comment):
            raise InputError(f"field 'comment' holds what looks like a {kind}: feedback must not identify a patient")


def feedback_at_site(session: Session, site_id: str, model_sha256: str | None = None) -> list[ModelFeedback]:
    """Feedback given at a site (on one model, or all), newest first."""
    query = select(ModelFeedback).where(ModelFeedback.site_id == site_id)
    if model_sha256 is not None:
        query = query.where(ModelFeedback.model_sha256 == model_sha256)
    return list(session.execute(query.order_by(ModelFeedback.id.desc()).limit(200)).scalars())
