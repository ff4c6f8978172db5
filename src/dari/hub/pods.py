"""Research pods at the hub: a researcher submits a code bundle under a grant that covers `research_pod`; the
site's pod runner pulls it (with a signed job ticket), runs it, and reports the held outputs' manifest.

The hub never sees a pod's outputs before two of the site's output checkers approve them (`dari.hub.pods_airlock`):
what it holds of a run is the manifest — names, sizes, SHA-256 and the automatic checks' findings. Every step is
audited here (`pod.submit`, `pod.pull`, `pod.hold`) and, at the site, in its own audit (`dari.pods.airlock_site`).
"""

from __future__ import annotations

import secrets
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.errors import InputError
from dari.hub import audit, notifications
from dari.hub.db.models import Dataset, User, utcnow
from dari.hub.db.pods import PodSubmission
from dari.hub.governance.applications import AnalysisType
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError
from dari.hub.governance.grants import check_grant, get_grant
from dari.hub.governance.roles import Permission, allowed
from dari.pods.grant import PodRequest
from dari.pods.output_check import FileReport
from dari.pods.output_rules import RULES

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

POD = AnalysisType.RESEARCH_POD.value
#: A bundle is code, not data: 5 MB as uploaded (unpacked, `dari.pods.bundle` bounds files and bytes).
MAX_BUNDLE_BYTES = 5_000_000
#: What one run may send after approval (all its released files together).
MAX_RELEASE_BYTES = 20_000_000
#: Routes whose bodies are larger than a form (dari.hub.web.body_limit matches exact paths, so no ids in them).
LARGE_BODY_ROUTES = {
    ("POST", "/api/v1/pods"): MAX_BUNDLE_BYTES + 100_000,
    ("POST", "/airlock/submit"): MAX_BUNDLE_BYTES + 100_000,
    ("POST", "/api/v1/pods/release"): MAX_RELEASE_BYTES + 200_000,
}


class PodManifest(BaseModel):
    """What a site reports of a run: held (with each output's name, size, hash and findings) or not run."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    status: Literal["held", "refused", "failed"]
    reason: str = Field(default="", max_length=500)
    run_id: str | None = Field(default=None, max_length=80)
    min_cell: int | None = Field(default=None, ge=1)
    files: list[FileReport] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _held_run(self) -> PodManifest:
        if self.status == "held" and not self.run_id:
            raise ValueError("a held run names its run_id")
        if self.status != "held" and self.files:
            raise ValueError("only a held run lists files")
        return self


def bundle_digest(data: bytes, name: str = "bundle.zip") -> str:
    """The bundle's canonical SHA-256 (`dari.pods.bundle`) once it validates as a .zip with `pod.toml`."""
    import tempfile

    from dari.pods.bundle import load_bundle

    if len(data) > MAX_BUNDLE_BYTES:
        raise InputError(f"a bundle may be at most {MAX_BUNDLE_BYTES} bytes", file=name)
    with tempfile.TemporaryDirectory(prefix="dari-bundle-") as folder:
        path = Path(folder) / "bundle.zip"
        path.write_bytes(data)
        try:
            return load_bundle(path).sha256
        except InputError as exc:  # name the researcher's file, not the temporary copy
            raise InputError(str(exc).replace(str(path), name)) from None


def submit_pod(
    session: Session, researcher: User, *, grant_id: str, dataset_id: str, bundle_name: str, data: bytes
) -> PodSubmission:
    """Store a bundle for one site's dataset under the researcher's grant, if it covers `research_pod` now."""
    if not allowed(researcher.role, Permission.APPLY):
        raise ForbiddenError(f"role {researcher.role} may not submit research pods")
    grant = get_grant(session, grant_id)
    if grant.grantee_id != researcher.id:
        raise ForbiddenError(f"{grant_id} is not held by {researcher.username}")
    if POD not in grant.analysis_types:
        raise ConflictError(f"{grant_id} does not cover research pods (its analysis types: {grant.analysis_types})")
    if dataset_id not in grant.dataset_ids:
        raise ConflictError(f"{grant_id} does not cover dataset {dataset_id}")
    if not grant.application.variables:
        raise ConflictError(f"{grant_id}'s application requests no variables: a pod sees only requested variables")
    digest = bundle_digest(data, bundle_name)
    decision = check_grant(session, researcher.username, dataset_id, POD)
    if not decision.allowed or decision.grant_id != grant_id:
        raise ConflictError(f"no active grant for a research pod on {dataset_id}: {decision.reason}")
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"unknown dataset {dataset_id!r}")
    pod = PodSubmission(
        id="pod-" + secrets.token_hex(8),
        grant_id=grant_id,
        researcher_id=researcher.id,
        site_id=dataset.site_id,
        dataset_id=dataset_id,
        bundle_name=PurePosixPath(bundle_name).name[:200] or "bundle.zip",
        bundle_sha256=digest,
        bundle_size=len(data),
        bundle=data,
        status="submitted",
        reason="",
    )
    session.add(pod)
    session.flush()
    audit.record(
        session,
        actor=researcher.username,
        action="pod.submit",
        target=f"pod:{pod.id}",
        detail={"grant": grant_id, "dataset": dataset_id, "site": pod.site_id, "bundle_sha256": digest},
    )
    notifications.notify(
        session,
        notifications.users_at_site(session, pod.site_id, ["data_steward"]),
        "pod_submitted",
        f"연구 포드 {pod.id} 실행 대기 ({dataset_id})",
        f"Research pod {pod.id} waits to run ({dataset_id})",
        f"/airlock/{pod.id}",
    )
    return pod


def get_pod(session: Session, pod_id: str) -> PodSubmission:
    """A submission by id."""
    pod = session.get(PodSubmission, pod_id)
    if pod is None:
        raise NotFoundError(f"unknown research pod {pod_id!r}")
    return pod


def can_view_pod(user: User, pod: PodSubmission) -> bool:
    """The researcher, the site's stewards and output checkers, and platform admins see a pod and its manifest."""
    if user.role == "platform_admin" or pod.researcher_id == user.id:
        return True
    return user.role in ("data_steward", "output_checker") and user.site_id == pod.site_id


def visible_pod(session: Session, user: User, pod_id: str) -> PodSubmission:
    """A pod the user may see (`ForbiddenError` otherwise)."""
    pod = get_pod(session, pod_id)
    if not can_view_pod(user, pod):
        raise ForbiddenError(f"{user.role} may not see research pod {pod_id}")
    return pod


def pods_for(session: Session, user: User, status: str | None = None) -> list[PodSubmission]:
    """The pods the user sees, newest first: their own (researchers) or their site's (stewards, checkers)."""
    query = select(PodSubmission).order_by(PodSubmission.submitted_at.desc())
    if user.role in ("data_steward", "output_checker"):
        query = query.where(PodSubmission.site_id == user.site_id)
    elif user.role != "platform_admin":
        query = query.where(PodSubmission.researcher_id == user.id)
    if status is not None:
        query = query.where(PodSubmission.status == status)
    return list(session.execute(query).scalars())


def site_pod(session: Session, steward: User, pod_id: str) -> PodSubmission:
    """A pod of the steward's own site: only that site's node (its steward's token) pulls and reports it."""
    pod = get_pod(session, pod_id)
    if steward.role != "data_steward" or steward.site_id != pod.site_id:
        raise ForbiddenError(f"only {pod.site_id}'s steward token may run research pod {pod_id}")
    return pod


def pod_request(pod: PodSubmission) -> PodRequest:
    """The job the site runs: this bundle, for this requester, on the grant's requested variables."""
    from dari.hub.governance.requested_data import RequestedVariable

    variables = [RequestedVariable.model_validate(v) for v in pod.grant.application.variables]
    return PodRequest(
        job_id=pod.id,
        requester=pod.researcher.username,
        datasets={pod.site_id: pod.dataset_id},
        bundle_sha256=pod.bundle_sha256,
        variables=variables,
    )


def pull_pod(session: Session, steward: User, pod_id: str, key: Ed25519PrivateKey) -> PodRequest:
    """Hand a submitted pod to its site as a `PodRequest` with the hub's signed ticket (grant checked now)."""
    from dari.federation.ticket import issue_ticket, params_sha256

    pod = site_pod(session, steward, pod_id)
    if pod.status != "submitted":
        raise ConflictError(f"research pod {pod_id} is {pod.status}: a pod is pulled once")
    request = pod_request(pod)
    envelope, reason = issue_ticket(
        session,
        key,
        job_id=pod.id,
        requester=request.requester,
        site_id=pod.site_id,
        dataset_id=pod.dataset_id,
        analysis_type=POD,
        model_sha256=None,
        params_hash=params_sha256(request),
        max_rounds=1,
    )
    audit.record(
        session,
        actor=steward.username,
        action="pod.pull",
        target=f"pod:{pod.id}",
        outcome="allow" if envelope is not None else "deny",
        detail={"site": pod.site_id, "bundle_sha256": pod.bundle_sha256, "reason": reason},
    )
    if envelope is None:
        pod.status, pod.reason = "refused", f"no grant: {reason}"[:500]
        session.flush()
        return request
    pod.status, pod.pulled_at = "pulled", utcnow()
    session.flush()
    return request.model_copy(update={"tickets": {pod.site_id: envelope}})


def report_manifest(session: Session, steward: User, pod_id: str, manifest: PodManifest) -> PodSubmission:
    """Record the site's manifest of a pulled pod's run: held outputs go to the site's output checkers."""
    pod = site_pod(session, steward, pod_id)
    if pod.status != "pulled":
        raise ConflictError(f"research pod {pod_id} is {pod.status}, not pulled")
    names = [f.name for f in manifest.files]
    if len(set(names)) != len(names):
        raise InputError("manifest: file names repeat")
    for f in manifest.files:  # a rule's severity is the hub's table too: a site cannot downgrade a block to review
        for x in f.findings:
            rule = RULES.get(x.rule)
            if rule is None or rule.severity != x.severity:
                raise InputError(
                    f"manifest: {f.name[:100]}: finding {x.rule[:40]!r} does not match the airlock's rules"
                )
    pod.status, pod.reason, pod.run_id = manifest.status, manifest.reason, manifest.run_id
    pod.manifest = manifest.model_dump(mode="json")
    pod.reported_at = utcnow()
    session.flush()
    blocked = sum(1 for f in manifest.files if f.blocked)
    audit.record(
        session,
        actor=steward.username,
        action="pod.hold" if manifest.status == "held" else f"pod.{manifest.status}",
        target=f"pod:{pod.id}",
        outcome="ok" if manifest.status == "held" else "deny" if manifest.status == "refused" else "error",
        detail={"run": manifest.run_id, "files": len(names), "blocked": blocked, "reason": manifest.reason},
    )
    if manifest.status == "held":
        notifications.notify(
            session,
            notifications.users_at_site(session, pod.site_id, ["output_checker"]),
            "pod_held",
            f"연구 포드 {pod.id}의 결과가 반출 검토를 기다립니다",
            f"Research pod {pod.id}: outputs await output checking",
            f"/airlock/{pod.id}",
        )
    notifications.notify(
        session,
        pod.researcher,
        "pod_ran",
        f"연구 포드 {pod.id}: {manifest.status}",
        f"Research pod {pod.id}: {manifest.status}",
        f"/airlock/{pod.id}",
    )
    return pod


def manifest_of(pod: PodSubmission) -> PodManifest | None:
    """The manifest the site reported, parsed."""
    return None if pod.manifest is None else PodManifest.model_validate(pod.manifest)
