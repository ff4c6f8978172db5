"""Portal pages of the DRB: the whole application, its IRB document, the review queue, the vote with its
confirmation step, grants and per-site revocation (also confirmed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from dari.errors import InputError
from dari.hub.db.models import Application, User
from dari.hub.governance.applications import can_view_application, get_application, involved_sites
from dari.hub.governance.documents import document_of
from dari.hub.governance.errors import ConflictError, ForbiddenError
from dari.hub.governance.grants import (
    application_conditions,
    application_state,
    get_grant,
    grant_of,
    grant_sites,
    grants_for_site,
    grants_of,
    revocation_scope,
    revoke_grant,
    revoked_sites,
)
from dari.hub.governance.requested_data import describe_cohort, parse_cohort
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
from dari.hub.web.routes.governance_views import confirm_page as _confirm_page
from dari.hub.web.routes.governance_views import form_error as _form_error
from dari.hub.web.routes.governance_views import template_helpers as _helpers

router = APIRouter(include_in_schema=False)
Reviewer = Annotated[User, Depends(requires(Permission.REVIEW))]
Revoker = Annotated[User, Depends(requires(Permission.REVOKE_GRANT))]


def _viewable(session: Session, user: User, application_id: int) -> Application:
    application = get_application(session, application_id)
    if not can_view_application(user, application):
        raise ForbiddenError(f"{user.role} may not see application {application_id}")
    return application


def _site_display(session: Session, application: Application) -> dict[str, str]:
    """Each involved site's decision, or 'revoked' where it withdrew its part of the grant."""
    sites = site_statuses(session, application)
    grant = grant_of(session, application)
    for site in revoked_sites(grant) if grant else set():
        sites[site] = "revoked"
    return sites


@router.get("/applications/{application_id}", response_class=HTMLResponse)
def application_page(
    application_id: ApplicationId,
    request: Request,
    session: DbSession,
    web: PortalSession,
    user: CurrentUser,
    lang: Lang,
) -> Response:
    """The whole application a board decides on, each site's decision, the grant (applicant, DRBs, stewards, admins)."""
    application = _viewable(session, user, application_id)
    can_vote = (
        user.role == "drb_member"
        and user.site_id in involved_sites(application)
        and application.status == "under_review"
        and all(r.reviewer_id != user.id for r in application.reviews)
    )
    cohort = parse_cohort(application.cohort) if application.cohort else None
    return state(request).templates.TemplateResponse(
        request,
        "application.html",
        {
            **_helpers(lang),
            "user": user,
            "csrf": web.csrf_token,
            "a": application,
            "status": application_state(session, application),
            "conditions": application_conditions(application),
            "sites": _site_display(session, application),
            "cohort": cohort,
            "cohort_words": describe_cohort(cohort, lang) if cohort else [],
            "grant": grant_of(session, application),
            "can_vote": can_vote,
        },
    )


@router.get("/applications/{application_id}/documents/{document_id}")
def download_document(
    application_id: ApplicationId, document_id: ApplicationId, session: DbSession, user: CurrentUser
) -> Response:
    """An application's document, for those who may see the application (involved sites' reviewers included)."""
    _viewable(session, user, application_id)
    document = document_of(session, application_id, document_id)
    headers = {
        "Content-Disposition": f'attachment; filename="irb-{application_id}-{document_id}.pdf"',
        "X-Content-SHA256": document.sha256,
    }
    return Response(document.content, media_type="application/pdf", headers=headers)


@router.get("/review", response_class=HTMLResponse)
def queue(request: Request, session: DbSession, web: PortalSession, user: Reviewer, lang: Lang) -> Response:
    """Applications awaiting this DRB member's vote."""
    return state(request).templates.TemplateResponse(
        request,
        "review_queue.html",
        {**_helpers(lang), "user": user, "csrf": web.csrf_token, "applications": review_queue(session, user)},
    )


@router.post("/applications/{application_id}/reviews", dependencies=[Csrf])
def vote(
    application_id: ApplicationId,
    request: Request,
    session: DbSession,
    web: PortalSession,
    user: Reviewer,
    lang: Lang,
    decision: Annotated[str, Form(max_length=40)],
    comment: Annotated[str, Form(max_length=5000)] = "",
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Step 1 shows what will be recorded and asks to confirm; step 2 (confirmed=yes) records the site's decision."""
    try:
        review = ReviewCreate(decision=decision, comment=comment)
    except ValidationError as exc:
        raise _form_error(exc) from None
    if review.decision != "approve" and not review.comment:
        raise InputError("comment: a rejection or a conditional approval needs a comment that says why")
    if confirmed != "yes":
        application = _viewable(session, user, application_id)
        label = DECISION_LABELS[review.decision][1 if lang == "en" else 0]
        return _confirm_page(
            request,
            web,
            user,
            lang,
            heading="confirm_vote",
            action=f"/applications/{application_id}/reviews",
            back=f"/applications/{application_id}",
            fields={"decision": review.decision.value, "comment": review.comment},
            summary=[
                ("title", application.title),
                ("site", user.site_id or ""),
                ("decision", label),
                ("conditions" if review.decision == "approve_with_conditions" else "comment", review.comment),
            ],
        )
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
        request, "grants.html", {**_helpers(lang), "user": user, "csrf": web.csrf_token, "grants": grants}
    )


@router.post("/grants/{grant_id}/revoke", dependencies=[Csrf])
def revoke(
    grant_id: str,
    request: Request,
    session: DbSession,
    web: PortalSession,
    user: Revoker,
    lang: Lang,
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Step 1 names the sites a revocation removes and asks to confirm; step 2 (confirmed=yes) revokes at once."""
    if not reason.strip():
        raise InputError("reason: a revocation needs a reason")
    grant = get_grant(session, grant_id)
    sites = revocation_scope(user, grant)
    if not sites:
        raise ConflictError(f"{grant_id} is revoked already for {user.site_id or 'every site'}")
    if confirmed != "yes":
        remaining = sorted(grant_sites(grant) - revoked_sites(grant) - set(sites))
        return _confirm_page(
            request,
            web,
            user,
            lang,
            heading="confirm_revoke",
            action=f"/grants/{grant_id}/revoke",
            back="/grants",
            fields={"reason": reason.strip()},
            summary=[
                ("grant", grant_id),
                ("holder", f"{grant.grantee.display_name} ({grant.grantee.username})"),
                ("revoked_sites_now", ", ".join(sites) or "—"),
                ("remaining_sites", ", ".join(remaining) or "—"),
                ("reason", reason.strip()),
            ],
        )
    with unit_of_work(session):
        revoke_grant(session, user, grant_id, reason)
    return RedirectResponse("/grants", status_code=303)
