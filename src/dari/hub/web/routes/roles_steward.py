"""Portal page of the data steward: the site's published record, data quality, pseudonymisation sign-offs (and
the form to sign one), and the jobs the hub issued tickets for at the site."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from dari.errors import InputError
from dari.hub.db.models import User
from dari.hub.site_record import SignoffCreate, latest_signoff, sign_pseudonymisation, site_record
from dari.hub.web.deps import Csrf, DbSession, Lang, PortalSession, state, unit_of_work
from dari.hub.web.routes.roles_common import role_user

router = APIRouter(include_in_schema=False)
Steward = Annotated[User, Depends(role_user("data_steward"))]


@router.get("/site", response_class=HTMLResponse)
def site_page(request: Request, session: DbSession, web: PortalSession, user: Steward, lang: Lang) -> Response:
    """The steward's site at a glance."""
    record = site_record(session, user)
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "r": record,
        "latest": {d.id: latest_signoff(record, d.id) for d in record.datasets},
    }
    return state(request).templates.TemplateResponse(request, "site_record.html", context)


@router.post("/site/signoffs", dependencies=[Csrf])
def sign(
    session: DbSession,
    user: Steward,
    dataset_id: Annotated[str, Form(max_length=128)],
    report_sha256: Annotated[str, Form(max_length=64)],
    verdict: Annotated[str, Form(max_length=8)],
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Record a sign-off of a dataset's pseudonymisation record (audited)."""
    try:
        form = SignoffCreate(
            dataset_id=dataset_id, report_sha256=report_sha256.strip().lower(), verdict=verdict, note=note
        )
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InputError(f"the sign-off form has errors: {fields}") from None
    with unit_of_work(session):
        sign_pseudonymisation(session, user, form)
    return RedirectResponse("/site", status_code=303)
