"""The airlock at the hub: two output checkers of the pod's site decide on its held outputs, each with a reason;
only after two approvals does the site send the approved files, and only the researcher downloads them.

Rules (docs/airlock.md):
* a reviewer holds `check_outputs` (role `output_checker`) at the pod's own site, and reviews a run once: the same
  person cannot be both checkers;
* one rejection is final (nothing leaves); two approvals from two different checkers release the run;
* the files released are exactly those of the manifest that no blocking rule held back, each with the size and
  SHA-256 the site reported before the review: a file changed after review is refused;
* downloads ask the grant again (a revoked grant stops them) and are audited, like every decision and release.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from dari.hub import audit, notifications
from dari.hub.db.models import User, utcnow
from dari.hub.db.pods import PodOutputReview, PodReleasedFile, PodSubmission
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError
from dari.hub.governance.grants import check_grant
from dari.hub.governance.roles import Permission, allowed
from dari.hub.pods import MAX_RELEASE_BYTES, POD, get_pod, manifest_of, site_pod, visible_pod

#: Approvals needed to release a run's outputs (two people: the "four eyes" of output checking).
APPROVALS_NEEDED = 2


class OutputDecision(StrEnum):
    """An output checker's decision on a held run."""

    APPROVE = "approve"
    REJECT = "reject"


class OutputReviewCreate(BaseModel):
    """A decision with its reason, as the form or API sends it."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    decision: OutputDecision
    reason: str = Field(min_length=3, max_length=2000)


class ReleaseFile(BaseModel):
    """One file the site is to send: name, size and SHA-256 as its manifest reported them."""

    model_config = ConfigDict(frozen=True)
    name: str
    size: int
    sha256: str
    kind: str


class ReleaseOrder(BaseModel):
    """What the hub tells the site about a decided run: its status, who decided, and which files to send."""

    model_config = ConfigDict(frozen=True)
    pod_id: str
    status: str
    run_id: str | None
    approvers: list[str]
    rejecters: list[str]
    files: list[ReleaseFile]


def review_outputs(session: Session, checker: User, pod_id: str, data: OutputReviewCreate) -> PodSubmission:
    """Record one output checker's decision on a held run (audited); two approvals release, a rejection ends it."""
    if not allowed(checker.role, Permission.CHECK_OUTPUTS):
        raise ForbiddenError(f"role {checker.role} may not check research pod outputs")
    pod = get_pod(session, pod_id)
    if checker.site_id != pod.site_id:
        raise ForbiddenError(f"only {pod.site_id}'s output checkers decide on research pod {pod_id}")
    if pod.status != "held":
        raise ConflictError(f"research pod {pod_id} is {pod.status}: only held outputs are reviewed")
    if any(r.reviewer_id == checker.id for r in pod.reviews):
        raise ConflictError(f"{checker.username} reviewed research pod {pod_id} already: a second checker decides")
    review = PodOutputReview(
        submission_id=pod.id, reviewer_id=checker.id, decision=data.decision.value, reason=data.reason
    )
    session.add(review)
    session.flush()
    session.refresh(pod)
    approvals = {r.reviewer_id for r in pod.reviews if r.decision == OutputDecision.APPROVE}
    if data.decision == OutputDecision.REJECT:
        pod.status, pod.decided_at = "rejected", utcnow()
    elif len(approvals) >= APPROVALS_NEEDED:
        pod.status, pod.decided_at = "approved", utcnow()
    session.flush()
    audit.record(
        session,
        actor=checker.username,
        action="pod.review",
        target=f"pod:{pod.id}",
        outcome="allow" if data.decision == OutputDecision.APPROVE else "deny",
        detail={"decision": data.decision.value, "reason": data.reason, "status": pod.status, "site": pod.site_id},
    )
    if pod.status in ("approved", "rejected"):
        words = {"approved": ("반출 승인", "approved for release"), "rejected": ("반출 거부", "rejected")}[pod.status]
        notifications.notify(
            session,
            [pod.researcher, *notifications.users_at_site(session, pod.site_id, ["data_steward"])],
            "pod_decided",
            f"연구 포드 {pod.id}: {words[0]}",
            f"Research pod {pod.id}: {words[1]}",
            f"/airlock/{pod.id}",
        )
    return pod


def release_order(session: Session, steward: User, pod_id: str) -> ReleaseOrder:
    """The decision the site acts on: for an approved run, the manifest's files no blocking rule held back."""
    pod = site_pod(session, steward, pod_id)
    manifest = manifest_of(pod)
    files = []
    if pod.status == "approved" and manifest is not None:
        files = [
            ReleaseFile(name=f.name, size=f.size, sha256=f.sha256, kind=f.kind or "")
            for f in manifest.files
            if not f.blocked and f.kind is not None
        ]
    return ReleaseOrder(
        pod_id=pod.id,
        status=pod.status,
        run_id=pod.run_id,
        approvers=[r.reviewer.username for r in pod.reviews if r.decision == OutputDecision.APPROVE],
        rejecters=[r.reviewer.username for r in pod.reviews if r.decision == OutputDecision.REJECT],
        files=files,
    )


def receive_release(session: Session, steward: User, pod_id: str, files: Mapping[str, bytes]) -> PodSubmission:
    """Store the files the site sent for an approved run: exactly the order's files, unchanged since review."""
    order = release_order(session, steward, pod_id)
    pod = get_pod(session, pod_id)
    if pod.status != "approved":
        raise ConflictError(f"research pod {pod_id} is {pod.status}: only approved outputs are released")
    wanted = {f.name: f for f in order.files}
    if set(files) != set(wanted):
        raise ConflictError(f"research pod {pod_id}: the files sent are not the approved files")
    if sum(len(b) for b in files.values()) > MAX_RELEASE_BYTES:
        raise ConflictError(f"research pod {pod_id}: more than {MAX_RELEASE_BYTES} bytes")
    for name, content in sorted(files.items()):
        expected = wanted[name]
        if len(content) != expected.size or hashlib.sha256(content).hexdigest() != expected.sha256:
            raise ConflictError(f"research pod {pod_id}: {name} differs from the file the checkers reviewed")
        session.add(
            PodReleasedFile(
                submission_id=pod.id,
                name=name,
                sha256=expected.sha256,
                size=expected.size,
                kind=expected.kind,
                content=content,
            )
        )
    pod.status, pod.released_at = "released", utcnow()
    session.flush()
    audit.record(
        session,
        actor=steward.username,
        action="pod.release",
        target=f"pod:{pod.id}",
        detail={"files": {n: wanted[n].sha256 for n in sorted(files)}, "approvers": order.approvers},
    )
    notifications.notify(
        session,
        pod.researcher,
        "pod_released",
        f"연구 포드 {pod.id}의 결과를 내려받을 수 있습니다",
        f"Research pod {pod.id}: outputs ready to download",
        f"/airlock/{pod.id}",
    )
    return pod


def confirm_withheld(session: Session, steward: User, pod_id: str) -> PodSubmission:
    """The site's word that a rejected run's outputs stay at the site (audited at the hub)."""
    pod = site_pod(session, steward, pod_id)
    if pod.status != "rejected":
        raise ConflictError(f"research pod {pod_id} is {pod.status}, not rejected")
    pod.status = "withheld"
    session.flush()
    audit.record(
        session,
        actor=steward.username,
        action="pod.withhold",
        target=f"pod:{pod.id}",
        outcome="deny",
        detail={"run": pod.run_id, "site": pod.site_id},
    )
    return pod


def released_file(session: Session, user: User, pod_id: str, name: str) -> PodReleasedFile:
    """A released file for its researcher, while the grant still stands (both audited)."""
    pod = visible_pod(session, user, pod_id)
    if pod.researcher_id != user.id:
        raise ForbiddenError("only the researcher who submitted a pod downloads its released outputs")
    found = next((f for f in pod.released if f.name == name), None)
    if found is None:
        raise NotFoundError(f"research pod {pod_id} released no file {name[:100]!r}")
    decision = check_grant(session, user.username, pod.dataset_id, POD)
    if not decision.allowed:
        raise ForbiddenError(f"the grant no longer allows research pods on {pod.dataset_id}: {decision.reason}")
    audit.record(
        session,
        actor=user.username,
        action="pod.download",
        target=f"pod:{pod.id}",
        detail={"file": name, "sha256": found.sha256},
    )
    return found
