"""The deployment gate: a model reaches a site's care only through a validation report that site approved.

Register the model (by the SHA-256 of its ONNX file), submit its multicenter validation report (the results file
hashed), have the site's deployment approver approve the report for that site, then deploy. `deployment_allowed`
is the one check; a withdrawal makes it say no at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.hub import audit, notifications
from dari.hub.db.models import DeploymentApproval, RegisteredModel, User, ValidationReport, utcnow
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError
from dari.hub.governance.roles import Permission, allowed


def register_model(session: Session, actor: User, sha256: str, card: dict[str, Any]) -> RegisteredModel:
    """Add a model to the registry (idempotent for the same file)."""
    if not allowed(actor.role, Permission.REGISTER_MODEL):
        raise ForbiddenError(f"role {actor.role} may not register models")
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ConflictError(f"model sha256 must be 64 lowercase hex digits, got {sha256[:80]!r}")
    found = session.get(RegisteredModel, sha256)
    if found is not None:
        return found
    model = RegisteredModel(
        sha256=sha256,
        name=str(card.get("name", "unnamed model"))[:200],
        version=str(card.get("version", "0"))[:50],
        card=card,
        registered_by=actor.id,
    )
    session.add(model)
    session.flush()
    audit.record(
        session,
        actor=actor.username,
        action="model.register",
        target=f"model:{sha256[:16]}",
        detail={"name": model.name, "version": model.version},
    )
    return model


def submit_report(session: Session, actor: User, model_sha256: str, results: dict[str, Any]) -> ValidationReport:
    """Record a validation report of a registered model; the sites are those the pooled result covers."""
    if not allowed(actor.role, Permission.REGISTER_MODEL):
        raise ForbiddenError(f"role {actor.role} may not submit validation reports")
    if session.get(RegisteredModel, model_sha256) is None:
        raise NotFoundError(f"model {model_sha256[:16]}… is not registered")
    sites = results.get("covered") or results.get("sites_covered") or (results.get("pooled") or {}).get("sites") or []
    if not isinstance(sites, list) or not sites or not all(isinstance(s, str) for s in sites):
        raise ConflictError("the results say no site they cover (field 'sites_covered')")
    canonical = json.dumps(results, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    pooled = results.get("pooled") or {}
    report = ValidationReport(
        id="report-" + secrets.token_hex(6),
        model_sha256=model_sha256,
        results_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        sites=sorted(sites),
        summary={k: pooled.get(k) for k in ("n", "events", "auroc", "auroc_ci", "calibration_slope", "brier")},
        submitted_by=actor.id,
    )
    session.add(report)
    session.flush()
    audit.record(
        session,
        actor=actor.username,
        action="report.submit",
        target=f"report:{report.id}",
        detail={"model": model_sha256[:16], "sites": report.sites},
    )
    notifications.notify(
        session,
        [u for s in report.sites for u in notifications.users_at_site(session, s, ["deployment_approver"])],
        "report_submitted",
        f"검증 보고서 {report.id} 승인 요청 ({report.model.name})",
        f"Validation report {report.id} awaits approval ({report.model.name})",
        "/approvals",
    )
    return report


def approve_deployment(session: Session, approver: User, report_id: str, reason: str = "") -> DeploymentApproval:
    """The site's deployment approver accepts the report for use in that site's care (the reason is audited)."""
    if not allowed(approver.role, Permission.APPROVE_DEPLOYMENT) or approver.site_id is None:
        raise ForbiddenError(f"role {approver.role} may not approve deployments")
    report = session.get(ValidationReport, report_id)
    if report is None:
        raise NotFoundError(f"unknown validation report {report_id!r}")
    if approver.site_id not in report.sites:
        raise ForbiddenError(
            f"report {report_id} holds no validation at {approver.site_id}: it cannot be approved there"
        )
    existing = session.execute(
        select(DeploymentApproval).where(
            DeploymentApproval.report_id == report_id, DeploymentApproval.site_id == approver.site_id
        )
    ).scalar_one_or_none()
    if existing is not None and existing.withdrawn_at is None:
        raise ConflictError(f"report {report_id} is approved for {approver.site_id} already")
    if existing is not None:
        existing.withdrawn_at, existing.withdraw_reason = None, None
        existing.approver_id, existing.approved_at = approver.id, utcnow()
        approval = existing
    else:
        approval = DeploymentApproval(report_id=report_id, site_id=approver.site_id, approver_id=approver.id)
        session.add(approval)
    session.flush()
    audit.record(
        session,
        actor=approver.username,
        action="deployment.approve",
        target=f"report:{report_id}",
        detail={"site": approver.site_id, "model": report.model_sha256[:16], "reason": reason.strip()[:2000]},
    )
    notifications.notify_report_decision(session, report, approver.site_id, withdrawn=False)
    return approval


def withdraw_deployment(session: Session, actor: User, report_id: str, site_id: str, reason: str) -> None:
    """Withdraw a site's approval at once (its deployment approver or a platform admin)."""
    if not (actor.role == "platform_admin" or (actor.role == "deployment_approver" and actor.site_id == site_id)):
        raise ForbiddenError(f"{actor.role} of {actor.site_id or 'no site'} may not withdraw approvals of {site_id}")
    approval = session.execute(
        select(DeploymentApproval).where(
            DeploymentApproval.report_id == report_id, DeploymentApproval.site_id == site_id
        )
    ).scalar_one_or_none()
    if approval is None or approval.withdrawn_at is not None:
        raise NotFoundError(f"no active approval of {report_id} at {site_id}")
    if not reason.strip():
        raise ConflictError("a withdrawal needs a reason")
    approval.withdrawn_at, approval.withdraw_reason = utcnow(), reason.strip()[:2000]
    audit.record(
        session,
        actor=actor.username,
        action="deployment.withdraw",
        target=f"report:{report_id}",
        detail={"site": site_id},
    )
    notifications.notify_report_decision(session, approval.report, site_id, withdrawn=True)


class DeploymentDecision(BaseModel):
    """Whether a model may serve care at a site now, and on which report and approval."""

    model_config = ConfigDict(frozen=True)
    allowed: bool
    report_id: str | None
    approver: str | None
    reason: str


def deployment_allowed(session: Session, model_sha256: str, site_id: str) -> DeploymentDecision:
    """The one check before a model serves care at a site (deployment, and the CDS service's periodic re-check)."""
    approvals = (
        session.execute(
            select(DeploymentApproval)
            .join(ValidationReport)
            .where(ValidationReport.model_sha256 == model_sha256, DeploymentApproval.site_id == site_id)
            .order_by(DeploymentApproval.approved_at.desc())
        )
        .scalars()
        .all()
    )
    for approval in approvals:
        if approval.withdrawn_at is None:
            approver = session.get(User, approval.approver_id)
            return DeploymentDecision(
                allowed=True,
                report_id=approval.report_id,
                approver=approver.username if approver else None,
                reason="approved report",
            )
    reason = "approval withdrawn" if approvals else "no validation report of this model is approved for this site"
    return DeploymentDecision(allowed=False, report_id=None, approver=None, reason=reason)


def record_deployment(session: Session, deployer: str, model_sha256: str, site_id: str) -> DeploymentDecision:
    """Check the gate and put the deployment (model hash, report, approver, time) in the audit log, or refuse."""
    decision = deployment_allowed(session, model_sha256, site_id)
    audit.record(
        session,
        actor=deployer,
        action="deployment.deploy",
        target=f"model:{model_sha256[:16]}",
        outcome="allow" if decision.allowed else "deny",
        detail={
            "site": site_id,
            "model_sha256": model_sha256,
            "report": decision.report_id,
            "approver": decision.approver,
            "reason": decision.reason,
        },
    )
    return decision
