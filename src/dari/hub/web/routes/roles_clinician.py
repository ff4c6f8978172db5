"""Portal pages of the clinician: models deployed at their site, each model's CHAI card, and a feedback form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from dari.errors import InputError
from dari.hub.db.models import User
from dari.hub.deployment_views import deployed_at_site, deployed_model
from dari.hub.feedback import RATING_LABELS, FeedbackCreate, feedback_at_site, submit_feedback
from dari.hub.governance.errors import NotFoundError
from dari.hub.web.deps import Csrf, DbSession, Lang, PortalSession, state, unit_of_work
from dari.hub.web.routes.roles_common import role_user

router = APIRouter(include_in_schema=False)
Clinician = Annotated[User, Depends(role_user("clinician"))]
ModelSha = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


@router.get("/clinician", response_class=HTMLResponse)
def models_page(request: Request, session: DbSession, web: PortalSession, user: Clinician, lang: Lang) -> Response:
    """Models approved for care at the clinician's site now."""
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "models": deployed_at_site(session, user.site_id or ""),
    }
    return state(request).templates.TemplateResponse(request, "clinician.html", context)


@router.get("/clinician/models/{model_sha256}", response_class=HTMLResponse)
def model_page(
    model_sha256: ModelSha, request: Request, session: DbSession, web: PortalSession, user: Clinician, lang: Lang
) -> Response:
    """A deployed model's card and the site's feedback on it, with the feedback form."""
    found = deployed_model(session, user.site_id or "", model_sha256)
    if found is None:
        raise NotFoundError(f"model {model_sha256[:16]}… is not deployed at {user.site_id}")
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "d": found,
        "feedback": feedback_at_site(session, user.site_id or "", model_sha256),
        "ratings": RATING_LABELS,
        "sent": request.query_params.get("sent") == "1",
    }
    return state(request).templates.TemplateResponse(request, "clinician_model.html", context)


@router.post("/clinician/models/{model_sha256}/feedback", dependencies=[Csrf])
def send_feedback(
    model_sha256: ModelSha,
    session: DbSession,
    user: Clinician,
    rating: Annotated[str, Form(max_length=20)],
    comment: Annotated[str, Form(max_length=4000)],
) -> Response:
    """Store the feedback (audited; the vendor and the site's approvers are told)."""
    try:
        form = FeedbackCreate.model_validate({"rating": rating, "comment": comment})
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InputError(f"the feedback form has errors: {fields}") from None
    with unit_of_work(session):
        submit_feedback(session, user, model_sha256, form)
    return RedirectResponse(f"/clinician/models/{model_sha256}?sent=1", status_code=303)
