"""Portal pages of governance: the application form, my applications, the DRB review with its confirmation step,
grants and per-site revocation (also confirmed)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from dari.errors import InputError
from dari.hub.catalog import list_datasets
from dari.hub.db.models import Application, User
from dari.hub.governance.applications import (
    ANALYSIS_LABELS,
    DUA_SHA256,
    DUA_TEXT,
    DUA_VERSION,
    SEOUL,
    ApplicationCreate,
    applications_of,
    can_view_application,
    get_application,
    involved_sites,
    last_day,
    seoul_day,
    submit_application,
)
from dari.hub.governance.documents import MAX_DOCUMENT_BYTES, UploadedDocument, document_of
from dari.hub.governance.errors import ForbiddenError
from dari.hub.governance.grants import (
    application_conditions,
    application_state,
    get_grant,
    grant_of,
    grant_sites,
    grant_state,
    grants_for_site,
    grants_of,
    revocation_scope,
    revoke_grant,
    revoked_sites,
)
from dari.hub.governance.requested_data import (
    TABLE_LABELS,
    describe_cohort,
    parse_cohort,
    variable_from_form,
    variable_options,
    variable_token,
)
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

router = APIRouter(include_in_schema=False)
Applicant = Annotated[User, Depends(requires(Permission.APPLY))]
Reviewer = Annotated[User, Depends(requires(Permission.REVIEW))]
Revoker = Annotated[User, Depends(requires(Permission.REVOKE_GRANT))]
# The application form carries the IRB document: its route may take that much more than an ordinary form.
FORM_BODY_ROUTES = (("POST", "/applications"), ("POST", "/apply"))
FORM_BODY_EXTRA = MAX_DOCUMENT_BYTES + 200_000


def _form_error(exc: ValidationError) -> InputError:
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return InputError(f"the application form has errors: {fields}")


def _seoul_time(value: dt.datetime) -> str:
    at = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return at.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M KST")


def _helpers(lang: str) -> dict[str, Any]:
    """What every governance template uses to show times, labels and statuses."""
    return {
        "lang": lang,
        "seoul_day": seoul_day,
        "last_day": last_day,
        "seoul_time": _seoul_time,
        "analysis_labels": {k.value: v for k, v in ANALYSIS_LABELS.items()},
        "table_labels": TABLE_LABELS,
        "decisions": DECISION_LABELS,
        "now": dt.datetime.now(dt.UTC),
        "grant_state": grant_state,
        "grant_sites": grant_sites,
        "revoked_sites": revoked_sites,
    }


def _form_page(request: Request, session: Session, web: Any, user: User, lang: str, values: dict[str, Any]) -> Response:
    cohort, cohort_error = None, ""
    if values.get("cohort_json"):
        try:
            cohort = parse_cohort(values["cohort_json"])
        except InputError as exc:
            cohort_error = str(exc)
    today = dt.datetime.now(SEOUL).date()
    return state(request).templates.TemplateResponse(
        request,
        "apply.html",
        {
            **_helpers(lang),
            "user": user,
            "csrf": web.csrf_token,
            "datasets": list_datasets(session),
            "v": values,
            "cohort": cohort,
            "cohort_words": describe_cohort(cohort, lang) if cohort else [],
            "cohort_error": cohort_error,
            "options": [(variable_token(o), o) for o in variable_options(cohort, lang)],
            "chosen_variables": set(values.get("variables", [])),
            "dua_text": DUA_TEXT[1] if lang == "en" else DUA_TEXT[0],
            "dua_version": DUA_VERSION,
            "dua_sha256": DUA_SHA256,
            "today": values.get("period_start") or today,
            "end": values.get("period_end") or today + dt.timedelta(days=365),
            "max_mib": MAX_DOCUMENT_BYTES // (1024 * 1024),
        },
    )


@router.get("/applications/new", response_class=HTMLResponse)
def application_form(
    request: Request, session: DbSession, web: PortalSession, user: Applicant, lang: Lang, dataset: str = ""
) -> Response:
    """The study application form."""
    return _form_page(request, session, web, user, lang, {"dataset_ids": [dataset]})


@router.post("/apply", response_class=HTMLResponse, dependencies=[Csrf])
def application_form_with(
    request: Request,
    session: DbSession,
    web: PortalSession,
    user: Applicant,
    lang: Lang,
    cohort_json: Annotated[str, Form(max_length=200_000)] = "",
    variables: Annotated[list[str], Form(max_length=200)] = [],  # noqa: B006 (FastAPI reads it, never mutates it)
    dataset_ids: Annotated[list[str], Form(max_length=50)] = [],  # noqa: B006
    analysis_types: Annotated[list[str], Form(max_length=4)] = [],  # noqa: B006
    title: Annotated[str, Form(max_length=300)] = "",
    purpose: Annotated[str, Form(max_length=5000)] = "",
    irb_number: Annotated[str, Form(max_length=100)] = "",
    applicant_affiliation: Annotated[str, Form(max_length=300)] = "",
    period_start: Annotated[str, Form(max_length=10)] = "",
    period_end: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The form filled with a cohort (from the cohort builder, or pasted and loaded) and whatever was entered."""
    values = {k: v for k, v in locals().items() if k not in ("request", "session", "web", "user", "lang")}
    return _form_page(request, session, web, user, lang, values)


@router.post("/applications", dependencies=[Csrf])
async def submit(
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
    applicant_affiliation: Annotated[str, Form(max_length=300)] = "",
    cohort_json: Annotated[str, Form(max_length=200_000)] = "",
    variables: Annotated[list[str], Form(max_length=200)] = [],  # noqa: B006
    dua_accepted: Annotated[bool, Form()] = False,
    irb_document: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Validate and save the application whole, or nothing (400 with every field's error)."""
    if not applicant_affiliation.strip():
        raise InputError("applicant_affiliation: the applicant's affiliation is required")
    if irb_document is None or not irb_document.filename:
        raise InputError("irb_document: the IRB approval document (PDF) is required")
    content = await irb_document.read(MAX_DOCUMENT_BYTES + 1)
    upload = UploadedDocument(field="irb_document", filename=irb_document.filename, content=content)
    cohort = parse_cohort(cohort_json) if cohort_json.strip() else None
    try:
        data = ApplicationCreate(
            title=title,
            purpose=purpose,
            irb_number=irb_number,
            applicant_affiliation=applicant_affiliation,
            dataset_ids=dataset_ids,
            cohort_json=cohort_json or None,
            variables=[variable_from_form(v, cohort) for v in variables if v.strip()],
            analysis_types=analysis_types,
            period_start=period_start,
            period_end=period_end,
            dua_accepted=dua_accepted,
            submission_key=submission_key,
        )
    except ValidationError as exc:
        raise _form_error(exc) from None
    with unit_of_work(session):
        application = submit_application(session, user, data, upload)
    return RedirectResponse(f"/applications/{application.id}", status_code=303)


@router.get("/applications", response_class=HTMLResponse)
def my_applications(request: Request, session: DbSession, web: PortalSession, user: Applicant, lang: Lang) -> Response:
    """The applicant's applications and grants."""
    applications = applications_of(session, user)
    return state(request).templates.TemplateResponse(
        request,
        "my_applications.html",
        {
            **_helpers(lang),
            "user": user,
            "csrf": web.csrf_token,
            "applications": [(a, application_state(session, a), application_conditions(a)) for a in applications],
            "grants": grants_of(session, user),
        },
    )


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


def _confirm_page(request: Request, web: Any, user: User, lang: str, **page: Any) -> Response:
    return state(request).templates.TemplateResponse(
        request, "confirm.html", {**_helpers(lang), "user": user, "csrf": web.csrf_token, **page}
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
