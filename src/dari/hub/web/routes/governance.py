"""Portal pages of governance: the application form, my applications, the DRB queue, grants and revocation."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from dari.errors import InputError
from dari.hub.catalog import list_datasets
from dari.hub.db.models import User
from dari.hub.governance.applications import (
    ANALYSIS_LABELS,
    ApplicationCreate,
    applications_of,
    can_view_application,
    get_application,
    involved_sites,
    submit_application,
)
from dari.hub.governance.errors import ForbiddenError
from dari.hub.governance.grants import grants_for_site, grants_of, revoke_grant
from dari.hub.governance.review import DECISION_LABELS, ReviewCreate, record_review, review_queue, site_statuses
from dari.hub.governance.roles import Permission
from dari.hub.web.deps import (
    ApplicationId,
    Csrf,
    CurrentUser,
    DbSession,
    Lang,
    PortalSession,
    requires,
    state,
    unit_of_work,
)
from dari.hub.web.forms import form_error

router = APIRouter(include_in_schema=False)
Applicant = Annotated[User, Depends(requires(Permission.APPLY))]
Reviewer = Annotated[User, Depends(requires(Permission.REVIEW))]
Revoker = Annotated[User, Depends(requires(Permission.REVOKE_GRANT))]


def _form_error(exc: ValidationError) -> InputError:
    # The error handler shows the form again, filled in, each field's message beside it (dari.hub.web.forms).
    return form_error(exc, whole_form="period_end")


@router.get("/applications/new", response_class=HTMLResponse)
def application_form(
    request: Request, session: DbSession, web: PortalSession, user: Applicant, lang: Lang, dataset: str = ""
) -> Response:
    """The study application form."""
    today = dt.date.today()
    return state(request).templates.TemplateResponse(
        request,
        "apply.html",
        {
            "lang": lang,
            "user": user,
            "csrf": web.csrf_token,
            "datasets": list_datasets(session),
            "chosen": {dataset},
            "analysis_labels": ANALYSIS_LABELS,
            "today": today,
            "end": today + dt.timedelta(days=365),
        },
    )


@router.post("/applications", dependencies=[Csrf])
def submit(
    request: Request,
    session: DbSession,
    user: Applicant,
    title: Annotated[str, Form(max_length=300)],
    purpose: Annotated[str, Form(max_length=5000)],
    irb_number: Annotated[str, Form(max_length=100)],
    period_start: Annotated[dt.date, Form()],
    period_end: Annotated[dt.date, Form()],
    submission_key: Annotated[str, Form(min_length=8, max_length=64)],
    dataset_ids: Annotated[list[str], Form(max_length=50)],
    analysis_types: Annotated[list[str], Form(max_length=4)],
    variables: Annotated[str, Form(max_length=10000)] = "",
    dua_accepted: Annotated[bool, Form()] = False,
) -> Response:
    """Validate and save the application whole, or nothing (400 with every field's error)."""
    try:
        data = ApplicationCreate(
            title=title,
            purpose=purpose,
            irb_number=irb_number,
            dataset_ids=dataset_ids,
            variables=[v for v in (line.strip() for line in variables.splitlines()) if v],
            analysis_types=analysis_types,
            period_start=period_start,
            period_end=period_end,
            dua_accepted=dua_accepted,
            submission_key=submission_key,
        )
    except ValidationError as exc:
        raise _form_error(exc) from None
    with unit_of_work(session):
        application = submit_application(session, user, data)
    return RedirectResponse(f"/applications/{application.id}", status_code=303)


@router.get("/applications", response_class=HTMLResponse)
def my_applications(request: Request, session: DbSession, web: PortalSession, user: Applicant, lang: Lang) -> Response:
    """The applicant's applications and grants."""
    return state(request).templates.TemplateResponse(
        request,
        "my_applications.html",
        {
            "lang": lang,
            "user": user,
            "csrf": web.csrf_token,
            "applications": applications_of(session, user),
            "grants": grants_of(session, user),
            "now": dt.datetime.now(dt.UTC),
        },
    )


@router.get("/applications/{application_id}", response_class=HTMLResponse)
def application_page(
    application_id: ApplicationId,
    request: Request,
    session: DbSession,
    web: PortalSession,
    user: CurrentUser,
    lang: Lang,
) -> Response:
    """One application with each site's decision (applicant, involved DRBs and stewards, admins)."""
    application = get_application(session, application_id)
    if not can_view_application(user, application):
        raise ForbiddenError(f"{user.role} may not see application {application_id}")
    can_vote = (
        user.role == "drb_member"
        and user.site_id in involved_sites(application)
        and application.status == "under_review"
        and all(r.reviewer_id != user.id for r in application.reviews)
    )
    return state(request).templates.TemplateResponse(
        request,
        "application.html",
        {
            "lang": lang,
            "user": user,
            "csrf": web.csrf_token,
            "a": application,
            "sites": site_statuses(session, application),
            "can_vote": can_vote,
            "decisions": DECISION_LABELS,
        },
    )


@router.get("/review", response_class=HTMLResponse)
def queue(request: Request, session: DbSession, web: PortalSession, user: Reviewer, lang: Lang) -> Response:
    """Applications awaiting this DRB member's vote."""
    return state(request).templates.TemplateResponse(
        request,
        "review_queue.html",
        {"lang": lang, "user": user, "csrf": web.csrf_token, "applications": review_queue(session, user)},
    )


@router.post("/applications/{application_id}/reviews", dependencies=[Csrf])
def vote(
    application_id: ApplicationId,
    session: DbSession,
    user: Reviewer,
    decision: Annotated[str, Form(max_length=40)],
    comment: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Record the member's decision for their site."""
    try:
        review = ReviewCreate(decision=decision, comment=comment)
    except ValidationError as exc:
        raise _form_error(exc) from None
    with unit_of_work(session):
        record_review(session, user, application_id, review)
    return RedirectResponse(f"/applications/{application_id}", status_code=303)


@router.get("/grants", response_class=HTMLResponse)
def grants_page(request: Request, session: DbSession, web: PortalSession, user: CurrentUser, lang: Lang) -> Response:
    """Grants the user holds, or (DRB members, stewards) the grants covering their site."""
    if user.site_id and user.role in ("drb_member", "data_steward"):
        grants = grants_for_site(session, user.site_id)
    else:
        grants = grants_of(session, user)
    return state(request).templates.TemplateResponse(
        request,
        "grants.html",
        {"lang": lang, "user": user, "csrf": web.csrf_token, "grants": grants, "now": dt.datetime.now(dt.UTC)},
    )


@router.post("/grants/{grant_id}/revoke", dependencies=[Csrf])
def revoke(grant_id: str, session: DbSession, user: Revoker, reason: Annotated[str, Form(max_length=2000)]) -> Response:
    """Revoke a grant at once."""
    with unit_of_work(session):
        revoke_grant(session, user, grant_id, reason)
    return RedirectResponse("/grants", status_code=303)
