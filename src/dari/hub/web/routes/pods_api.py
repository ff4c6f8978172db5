"""REST API of research pods: submission (researchers), pull, manifest and release (the site's steward token),
output checking (output checkers), downloads (the researcher). Rules in `dari.hub.pods` and `dari.hub.pods_airlock`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from dari.errors import InputError
from dari.hub.db.models import User
from dari.hub.db.pods import PodSubmission
from dari.hub.governance.roles import Permission
from dari.hub.keys import hub_key_paths
from dari.hub.pods import (
    MAX_BUNDLE_BYTES,
    MAX_RELEASE_BYTES,
    PodManifest,
    manifest_of,
    pods_for,
    pull_pod,
    report_manifest,
    site_pod,
    submit_pod,
    visible_pod,
)
from dari.hub.pods_airlock import (
    OutputReviewCreate,
    ReleaseOrder,
    confirm_withheld,
    receive_release,
    release_order,
    released_file,
    review_outputs,
)
from dari.hub.web.deps import ApiUser, DbSession, requires, state, unit_of_work
from dari.pods.grant import PodRequest
from dari.pods.output_check import FileReport

router = APIRouter(prefix="/api/v1/pods", tags=["research pods"])
Applicant = Annotated[User, Depends(requires(Permission.APPLY, api=True))]
Checker = Annotated[User, Depends(requires(Permission.CHECK_OUTPUTS, api=True))]
PodId = Annotated[str, Path(min_length=5, max_length=40, pattern=r"^pod-[0-9a-f]+$")]
Status = Annotated[str | None, Query(pattern=r"^[a-z]{3,16}$")]


class OutputReviewPublic(BaseModel):
    """One output checker's decision as others see it."""

    model_config = ConfigDict(frozen=True)
    reviewer: str
    decision: str
    reason: str
    at: dt.datetime


class PodPublic(BaseModel):
    """A submission, where it stands, its held outputs' manifest (no contents) and the checkers' decisions."""

    model_config = ConfigDict(frozen=True)
    id: str
    grant_id: str
    researcher: str
    site_id: str
    dataset_id: str
    bundle_name: str
    bundle_sha256: str
    bundle_size: int
    status: str
    reason: str
    run_id: str | None
    submitted_at: dt.datetime
    files: list[FileReport]
    reviews: list[OutputReviewPublic]
    released: list[str]


def pod_public(pod: PodSubmission) -> PodPublic:
    """The API's view of a submission."""
    manifest = manifest_of(pod)
    return PodPublic(
        id=pod.id,
        grant_id=pod.grant_id,
        researcher=pod.researcher.username,
        site_id=pod.site_id,
        dataset_id=pod.dataset_id,
        bundle_name=pod.bundle_name,
        bundle_sha256=pod.bundle_sha256,
        bundle_size=pod.bundle_size,
        status=pod.status,
        reason=pod.reason,
        run_id=pod.run_id,
        submitted_at=pod.submitted_at,
        files=manifest.files if manifest else [],
        reviews=[
            OutputReviewPublic(reviewer=r.reviewer.username, decision=r.decision, reason=r.reason, at=r.created_at)
            for r in pod.reviews
        ],
        released=[f.name for f in pod.released],
    )


async def read_upload(upload: UploadFile, limit: int, field: str) -> bytes:
    """An uploaded file's bytes, refused past `limit`."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{field}: at most {limit} bytes")
    return data


@router.post("", status_code=201)
async def submit(
    session: DbSession,
    user: Applicant,
    grant_id: Annotated[str, Form(min_length=1, max_length=40)],
    dataset_id: Annotated[str, Form(min_length=1, max_length=128)],
    bundle: Annotated[UploadFile, File()],
) -> PodPublic:
    """Submit a bundle (.zip with pod.toml) to run at one site under a grant that covers research pods."""
    data = await read_upload(bundle, MAX_BUNDLE_BYTES, "bundle")
    with unit_of_work(session):
        pod = submit_pod(
            session, user, grant_id=grant_id, dataset_id=dataset_id, bundle_name=bundle.filename or "", data=data
        )
        return pod_public(pod)


@router.get("")
def pods(session: DbSession, user: ApiUser, status: Status = None) -> list[PodPublic]:
    """The caller's pods (researchers) or their site's (stewards, output checkers), optionally by status."""
    return [pod_public(p) for p in pods_for(session, user, status)]


@router.post("/release")
async def release(
    session: DbSession,
    user: ApiUser,
    pod_id: Annotated[str, Form(min_length=5, max_length=40)],
    names: Annotated[list[str], Form(max_length=1000)] = [],  # noqa: B006 (FastAPI reads it, never mutates it)
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006
) -> PodPublic:
    """The site sends an approved run's files (its steward's token), in the order of `names`."""
    if len(names) != len(files):
        raise InputError("names: one name per file sent")
    contents: dict[str, bytes] = {}
    for name, upload in zip(names, files, strict=True):
        contents[name] = await read_upload(upload, MAX_RELEASE_BYTES, f"files[{name[:100]}]")
    with unit_of_work(session):
        return pod_public(receive_release(session, user, pod_id, contents))


@router.get("/{pod_id}")
def pod(pod_id: PodId, session: DbSession, user: ApiUser) -> PodPublic:
    """One pod (its researcher, its site's stewards and output checkers, admins)."""
    return pod_public(visible_pod(session, user, pod_id))


@router.post("/{pod_id}/pull")
def pull(pod_id: PodId, request: Request, session: DbSession, user: ApiUser) -> PodRequest:
    """The site takes a submitted pod: the job with the hub's signed ticket (none when the grant says no)."""
    key = hub_key_paths(state(request).settings.database).private_key()
    with unit_of_work(session):
        return pull_pod(session, user, pod_id, key)


@router.get("/{pod_id}/bundle")
def bundle(pod_id: PodId, session: DbSession, user: ApiUser) -> Response:
    """The bundle's bytes, for the site that pulled it."""
    found = site_pod(session, user, pod_id)
    if found.status == "submitted":
        raise InputError(f"research pod {pod_id} was not pulled yet")
    return Response(found.bundle, media_type="application/zip")


@router.post("/{pod_id}/manifest")
def manifest(pod_id: PodId, body: PodManifest, session: DbSession, user: ApiUser) -> PodPublic:
    """The site reports a pulled pod's run: held outputs' names, sizes, hashes and findings, or why it did not run."""
    with unit_of_work(session):
        return pod_public(report_manifest(session, user, pod_id, body))


@router.post("/{pod_id}/reviews")
def review(pod_id: PodId, body: OutputReviewCreate, session: DbSession, user: Checker) -> PodPublic:
    """An output checker of the pod's site approves or rejects its held outputs, with a reason."""
    with unit_of_work(session):
        return pod_public(review_outputs(session, user, pod_id, body))


@router.get("/{pod_id}/release")
def order(pod_id: PodId, session: DbSession, user: ApiUser) -> ReleaseOrder:
    """For the site: the decision on a run and, once approved, the files to send."""
    return release_order(session, user, pod_id)


@router.post("/{pod_id}/withheld")
def withheld(pod_id: PodId, session: DbSession, user: ApiUser) -> PodPublic:
    """The site confirms a rejected run's outputs stay at the site."""
    with unit_of_work(session):
        return pod_public(confirm_withheld(session, user, pod_id))


@router.get("/{pod_id}/files/{name:path}")
def download(pod_id: PodId, name: str, session: DbSession, user: ApiUser) -> Response:
    """A released file, for the researcher who submitted the pod (grant checked again, audited)."""
    with unit_of_work(session):
        found = released_file(session, user, pod_id, name)
        return file_response(found.name, found.kind, found.content)


MEDIA_TYPES = {
    "csv": "text/csv",
    "png": "image/png",
    "svg": "image/svg+xml",
    "html": "text/plain",
    "md": "text/markdown",
    "txt": "text/plain",
}


def file_response(name: str, kind: str, content: bytes) -> Response:
    """A released file as an attachment (HTML served as text: the hub never renders a pod's markup)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name.rsplit("/", 1)[-1])[:120] or "output"
    headers = {"Content-Disposition": f'attachment; filename="{safe}"', "X-Content-Type-Options": "nosniff"}
    return Response(content, media_type=MEDIA_TYPES.get(kind, "application/octet-stream"), headers=headers)
