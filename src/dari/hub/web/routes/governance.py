"""Portal pages of governance: the application form (also filled from the cohort builder) and my applications;
the DRB's pages (review, grants, revocation) are in `drb_pages`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from dari.errors import InputError
from dari.hub.catalog import list_datasets
from dari.hub.db.models import User
from dari.hub.governance.applications import (
    DUA_SHA256,
    DUA_TEXT,
    DUA_VERSION,
    SEOUL,
    ApplicationCreate,
    applications_of,
    submit_application,
)
from dari.hub.governance.documents import MAX_DOCUMENT_BYTES, UploadedDocument
from dari.hub.governance.grants import (
    application_conditions,
    application_state,
    grants_of,
)
from dari.hub.governance.requested_data import (
    describe_cohort,
    parse_cohort,
    variable_from_form,
    variable_options,
    variable_token,
)
from dari.hub.governance.roles import Permission
from dari.hub.web.deps import (
    Csrf,
    DbSession,
    Lang,
    PortalSession,
    requires,
    state,
    unit_of_work,
)
from dari.hub.web.forms import form_error
from dari.hub.web.routes.governance_views import template_helpers as _helpers

router = APIRouter(include_in_schema=False)
Applicant = Annotated[User, Depends(requires(Permission.APPLY))]
# The application form carries the IRB document: its route may take that much more than an ordinary form.
FORM_BODY_ROUTES = (("POST", "/applications"), ("POST", "/apply"))
FORM_BODY_EXTRA = MAX_DOCUMENT_BYTES + 200_000


def _form_error(exc: ValidationError) -> InputError:
    # The error handler shows the form again, filled in, each field's message beside it (dari.hub.web.forms).
    return form_error(exc, whole_form="period_end")


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
    analysis_types: Annotated[list[str], Form(max_length=8)] = [],  # noqa: B006
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
    analysis_types: Annotated[list[str], Form(max_length=8)],
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
