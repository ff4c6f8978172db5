"""What the deployment roles see: the approver's queue of reports, the vendor's models and their fate, the models
deployed at a clinician's site with their cards.

Read-only views over the registry, the approvals and the audit log; every decision still goes through
`dari.hub.governance.deployment` (the same audited services the CLI calls).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.hub.db.models import AuditEntry, DeploymentApproval, RegisteredModel, User, ValidationReport
from dari.hub.db.roles_tables import ModelFeedback
from dari.hub.governance.errors import ForbiddenError
from dari.hub.monitoring_queries import AlertRecord, alerts
from dari.models.model_card import ModelCard


class ReportAtSite(BaseModel):
    """A validation report as one site sees it: pending, approved or withdrawn there."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    report: ValidationReport
    site_id: str
    state: str  # pending | approved | withdrawn
    approval: DeploymentApproval | None


def _approvals(session: Session, report_ids: list[str]) -> dict[tuple[str, str], DeploymentApproval]:
    rows = session.execute(select(DeploymentApproval).where(DeploymentApproval.report_id.in_(report_ids))).scalars()
    return {(a.report_id, a.site_id): a for a in rows}


def _state(approval: DeploymentApproval | None) -> str:
    if approval is None:
        return "pending"
    return "withdrawn" if approval.withdrawn_at is not None else "approved"


def approval_queue(session: Session, approver: User) -> list[ReportAtSite]:
    """Every report that covers the approver's site, pending ones first, newest first within each state."""
    if approver.role != "deployment_approver" or approver.site_id is None:
        raise ForbiddenError(f"role {approver.role} has no deployment approval queue")
    reports = session.execute(select(ValidationReport).order_by(ValidationReport.submitted_at.desc())).scalars()
    mine = [r for r in reports if approver.site_id in r.sites]
    approvals = _approvals(session, [r.id for r in mine])
    rows = [
        ReportAtSite(
            report=r,
            site_id=approver.site_id,
            state=_state(approvals.get((r.id, approver.site_id))),
            approval=approvals.get((r.id, approver.site_id)),
        )
        for r in mine
    ]
    order = {"pending": 0, "approved": 1, "withdrawn": 2}
    return sorted(rows, key=lambda row: order[row.state])


class VendorOverview(BaseModel):
    """A vendor's models, reports with each covered site's state, deployments, alerts and clinicians' feedback."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    models: list[RegisteredModel]
    reports: list[ReportAtSite]
    deployments: list[AuditEntry]
    alerts: list[AlertRecord]
    feedback: list[ModelFeedback]


def vendor_overview(session: Session, vendor: User) -> VendorOverview:
    """What the registry, approvals, audit log and monitoring hold about the models `vendor` registered."""
    models = list(
        session.execute(
            select(RegisteredModel)
            .where(RegisteredModel.registered_by == vendor.id)
            .order_by(RegisteredModel.registered_at.desc())
        ).scalars()
    )
    shas = [m.sha256 for m in models]
    reports = list(
        session.execute(
            select(ValidationReport)
            .where(ValidationReport.model_sha256.in_(shas))
            .order_by(ValidationReport.submitted_at.desc())
        ).scalars()
    )
    approvals = _approvals(session, [r.id for r in reports])
    per_site = [
        ReportAtSite(report=r, site_id=s, state=_state(approvals.get((r.id, s))), approval=approvals.get((r.id, s)))
        for r in reports
        for s in r.sites
    ]
    targets = [f"model:{sha[:16]}" for sha in shas]
    deployments = list(
        session.execute(
            select(AuditEntry)
            .where(AuditEntry.action == "deployment.deploy", AuditEntry.target.in_(targets))
            .order_by(AuditEntry.seq.desc())
            .limit(200)
        ).scalars()
    )
    found = [a for sha in shas for a in alerts(session, sha, limit=100)]
    feedback = list(
        session.execute(
            select(ModelFeedback).where(ModelFeedback.model_sha256.in_(shas)).order_by(ModelFeedback.id.desc())
        ).scalars()
    )
    return VendorOverview(models=models, reports=per_site, deployments=deployments, alerts=found, feedback=feedback)


class DeployedModel(BaseModel):
    """A model approved for care at a site now, its card (CHAI format when it parses) and the approval."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    model: RegisteredModel
    approval: DeploymentApproval
    card: ModelCard | None
    raw_card: dict[str, Any]


def deployed_at_site(session: Session, site_id: str) -> list[DeployedModel]:
    """Models with an active approval at the site (what `deployment_allowed` says yes to), one row per model."""
    rows = session.execute(
        select(DeploymentApproval)
        .where(DeploymentApproval.site_id == site_id, DeploymentApproval.withdrawn_at.is_(None))
        .order_by(DeploymentApproval.approved_at.desc())
    ).scalars()
    seen: dict[str, DeployedModel] = {}
    for approval in rows:
        model = approval.report.model
        if model.sha256 in seen:
            continue
        try:
            card: ModelCard | None = ModelCard.model_validate(model.card)
        except ValidationError:
            card = None
        seen[model.sha256] = DeployedModel(model=model, approval=approval, card=card, raw_card=dict(model.card))
    return list(seen.values())


def deployed_model(session: Session, site_id: str, model_sha256: str) -> DeployedModel | None:
    """One model deployed at the site now, or None."""
    return next((d for d in deployed_at_site(session, site_id) if d.model.sha256 == model_sha256), None)
