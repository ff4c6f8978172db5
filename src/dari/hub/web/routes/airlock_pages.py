"""The airlock in the portal: researchers submit pod bundles and download released outputs; a site's two output
checkers see each held run's manifest and findings and approve or reject it with a reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from dari.errors import InputError
from dari.hub.governance.grants import grant_state, grants_of
from dari.hub.governance.roles import Permission, allowed
from dari.hub.pods import MAX_BUNDLE_BYTES, POD, manifest_of, pods_for, submit_pod, visible_pod
from dari.hub.pods_airlock import OutputReviewCreate, released_file, review_outputs
from dari.hub.web.deps import Csrf, CurrentUser, DbSession, Lang, PortalSession, state, unit_of_work
from dari.hub.web.routes.pods_api import file_response, read_upload

router = APIRouter(include_in_schema=False)
PodId = Annotated[str, Path(min_length=5, max_length=40, pattern=r"^pod-[0-9a-f]+$")]


@router.get("/airlock", response_class=HTMLResponse)
def airlock(request: Request, session: DbSession, web: PortalSession, user: CurrentUser, lang: Lang) -> Response:
    """The pods the user sees (own, or the site's), and for researchers the submission form."""
    grants = []
    if allowed(user.role, Permission.APPLY):
        grants = [g for g in grants_of(session, user) if POD in g.analysis_types and grant_state(g) == "active"]
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "pods": pods_for(session, user),
        "grants": grants,
    }
    return state(request).templates.TemplateResponse(request, "airlock_list.html", context)


@router.post("/airlock/submit", dependencies=[Csrf])
async def submit(
    session: DbSession,
    user: CurrentUser,
    grant_id: Annotated[str, Form(min_length=1, max_length=40)],
    dataset_id: Annotated[str, Form(min_length=1, max_length=128)],
    bundle: Annotated[UploadFile, File()],
) -> Response:
    """Submit a bundle from the portal (same rules as the API)."""
    data = await read_upload(bundle, MAX_BUNDLE_BYTES, "bundle")
    with unit_of_work(session):
        pod = submit_pod(
            session, user, grant_id=grant_id, dataset_id=dataset_id, bundle_name=bundle.filename or "", data=data
        )
    return RedirectResponse(f"/airlock/{pod.id}", status_code=303)


@router.get("/airlock/{pod_id}", response_class=HTMLResponse)
def pod_page(
    pod_id: PodId, request: Request, session: DbSession, web: PortalSession, user: CurrentUser, lang: Lang
) -> Response:
    """One pod: bundle, status, the held outputs' findings, the checkers' decisions, and what the viewer may do."""
    pod = visible_pod(session, user, pod_id)
    can_review = (
        pod.status == "held"
        and allowed(user.role, Permission.CHECK_OUTPUTS)
        and user.site_id == pod.site_id
        and all(r.reviewer_id != user.id for r in pod.reviews)
    )
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "pod": pod,
        "manifest": manifest_of(pod),
        "can_review": can_review,
        "reviewed": any(r.reviewer_id == user.id for r in pod.reviews),
        "is_researcher": pod.researcher_id == user.id,
    }
    return state(request).templates.TemplateResponse(request, "airlock_pod.html", context)


@router.post("/airlock/{pod_id}/review", dependencies=[Csrf])
def review(
    pod_id: PodId,
    session: DbSession,
    user: CurrentUser,
    decision: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Record the output checker's decision and reason (the service refuses a second review by the same person)."""
    try:
        data = OutputReviewCreate.model_validate({"decision": decision, "reason": reason})
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InputError(f"the review form has errors: {fields}") from None
    with unit_of_work(session):
        review_outputs(session, user, pod_id, data)
    return RedirectResponse(f"/airlock/{pod_id}", status_code=303)


@router.get("/airlock/{pod_id}/files/{name:path}")
def download(pod_id: PodId, name: str, session: DbSession, user: CurrentUser) -> Response:
    """A released file for the researcher (grant checked again, audited)."""
    with unit_of_work(session):
        found = released_file(session, user, pod_id, name)
        return file_response(found.name, found.kind, found.content)
