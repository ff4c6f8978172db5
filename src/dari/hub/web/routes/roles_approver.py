"""Portal pages of the deployment approver: the queue of validation reports covering their site, and approve or
withdraw after a confirmation step, through the same audited services `dari hub deployment` calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dari.hub.db.models import User
from dari.hub.deployment_views import approval_queue
from dari.hub.feedback import RATING_LABELS, feedback_at_site
from dari.hub.governance.deployment import approve_deployment, withdraw_deployment
from dari.hub.governance.errors import ConflictError, NotFoundError
from dari.hub.web.deps import Csrf, DbSession, Lang, PortalSession, state, unit_of_work
from dari.hub.web.routes.roles_common import role_user

router = APIRouter(include_in_schema=False)
Approver = Annotated[User, Depends(role_user("deployment_approver"))]
ReportId = Annotated[str, Path(pattern=r"^report-[0-9a-f]{1,32}$")]
Confirm = Annotated[str, Form(max_length=8)]


@router.get("/approvals", response_class=HTMLResponse)
def queue(request: Request, session: DbSession, web: PortalSession, user: Approver, lang: Lang) -> Response:
    """Reports covering the approver's site: pending first, then approved and withdrawn; feedback at the site."""
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "rows": approval_queue(session, user),
        "feedback": feedback_at_site(session, user.site_id or ""),
        "ratings": RATING_LABELS,
    }
    return state(request).templates.TemplateResponse(request, "approvals.html", context)


@router.get("/approvals/{report_id}", response_class=HTMLResponse)
def confirm_page(
    report_id: ReportId, request: Request, session: DbSession, web: PortalSession, user: Approver, lang: Lang
) -> Response:
    """The report in full with the approve or withdraw form (a confirmation box; a withdrawal needs a reason)."""
    row = next((r for r in approval_queue(session, user) if r.report.id == report_id), None)
    if row is None:
        raise NotFoundError(f"no validation report {report_id} covers {user.site_id}")
    context = {"lang": lang, "user": user, "csrf": web.csrf_token, "row": row}
    return state(request).templates.TemplateResponse(request, "approval_confirm.html", context)


def _confirmed(confirm: str) -> None:
    if confirm != "yes":
        raise ConflictError("field 'confirm': tick the confirmation box to go on")


@router.post("/approvals/{report_id}/approve", dependencies=[Csrf])
def approve(
    report_id: ReportId,
    session: DbSession,
    user: Approver,
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirm: Confirm = "",
) -> Response:
    """Approve the report for the approver's site, with the committee's reason (audited as deployment.approve)."""
    _confirmed(confirm)
    if not reason.strip():
        raise ConflictError("field 'reason': an approval needs the committee's reason")
    with unit_of_work(session):
        approve_deployment(session, user, report_id, reason)
    return RedirectResponse("/approvals?done=approved", status_code=303)


@router.post("/approvals/{report_id}/withdraw", dependencies=[Csrf])
def withdraw(
    report_id: ReportId,
    session: DbSession,
    user: Approver,
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirm: Confirm = "",
) -> Response:
    """Withdraw the site's approval at once, with a reason (audited as deployment.withdraw)."""
    _confirmed(confirm)
    with unit_of_work(session):
        withdraw_deployment(session, user, report_id, user.site_id or "", reason)
    return RedirectResponse("/approvals?done=withdrawn", status_code=303)
