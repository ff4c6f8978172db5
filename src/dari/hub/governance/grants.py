"""Access grants: issued only by joint approval, scoped, self-expiring, revocable at once.

`check_grant` is the one question every job asks before it touches a site's data: may this user run this analysis
on this dataset now? There is no other path to a yes.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.hub import audit, notifications
from dari.hub.db.models import Application, Grant, User, utcnow
from dari.hub.governance.decision import GrantDecision
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes; they were written as UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def issue_grant(session: Session, application: Application) -> Grant:
    """Issue the grant of an application every involved site approved (called by the review, never directly)."""
    if application.status != "approved":
        raise ConflictError(f"application {application.id} is {application.status}, not approved")
    conditions = [r.comment for r in application.reviews if r.decision == "approve_with_conditions"]
    grant = Grant(
        id="grant-" + secrets.token_hex(8),
        application_id=application.id,
        grantee_id=application.applicant_id,
        dataset_ids=sorted(link.dataset_id for link in application.datasets),
        analysis_types=list(application.analysis_types),
        conditions=conditions,
        valid_from=max(_aware(application.period_start), utcnow()),
        valid_until=_aware(application.period_end),
    )
    session.add(grant)
    session.flush()
    audit.record(
        session,
        actor="hub",
        action="grant.issue",
        target=f"grant:{grant.id}",
        detail={
            "application": application.id,
            "datasets": grant.dataset_ids,
            "analysis_types": grant.analysis_types,
            "valid_until": grant.valid_until.isoformat(),
        },
    )
    return grant


def check_grant(
    session: Session,
    username: str,
    dataset_id: str,
    analysis_type: str,
    now: dt.datetime | None = None,
    *,
    record: bool = True,
) -> GrantDecision:
    """Whether an active grant allows the user this analysis on this dataset at `now`; audited unless told not to."""
    at = now or utcnow()
    decision = _decide(session, username, dataset_id, analysis_type, at)
    if record:
        audit.record(
            session,
            actor=username,
            action="grant.check",
            target=f"dataset:{dataset_id}",
            outcome="allow" if decision.allowed else "deny",
            detail={"analysis_type": analysis_type, "grant": decision.grant_id, "reason": decision.reason},
        )
    return decision


def _decide(session: Session, username: str, dataset_id: str, analysis_type: str, at: dt.datetime) -> GrantDecision:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        return GrantDecision(allowed=False, grant_id=None, reason="unknown or inactive user")
    grants = session.execute(select(Grant).where(Grant.grantee_id == user.id)).scalars().all()
    reasons = []
    for grant in grants:
        if dataset_id not in grant.dataset_ids:
            continue
        if analysis_type not in grant.analysis_types:
            reasons.append(f"{grant.id} does not cover {analysis_type}")
        elif grant.revoked_at is not None:  # final: no later check, whatever time it names, passes
            reasons.append(f"{grant.id} was revoked")
        elif at < _aware(grant.valid_from):
            reasons.append(f"{grant.id} starts {grant.valid_from:%Y-%m-%d}")
        elif at >= _aware(grant.valid_until):
            reasons.append(f"{grant.id} expired")
        else:
            return GrantDecision(allowed=True, grant_id=grant.id, reason="active grant")
    return GrantDecision(allowed=False, grant_id=None, reason="; ".join(reasons) or "no grant covers this dataset")


def get_grant(session: Session, grant_id: str) -> Grant:
    """A grant by id."""
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFoundError(f"unknown grant {grant_id!r}")
    return grant


def grant_sites(grant: Grant) -> set[str]:
    """Sites whose data the grant covers."""
    return {link.dataset.site_id for link in grant.application.datasets}


def revoke_grant(session: Session, actor: User, grant_id: str, reason: str) -> Grant:
    """Revoke at once: a platform admin, or a DRB member of a site the grant covers."""
    grant = get_grant(session, grant_id)
    if not (actor.role == "platform_admin" or (actor.role == "drb_member" and actor.site_id in grant_sites(grant))):
        raise ForbiddenError(f"{actor.role} of {actor.site_id or 'no site'} may not revoke {grant_id}")
    if grant.revoked_at is not None:
        raise ConflictError(f"{grant_id} is revoked already")
    if not reason.strip():
        raise ConflictError("a revocation needs a reason")
    grant.revoked_at, grant.revoked_by, grant.revoke_reason = utcnow(), actor.id, reason.strip()[:2000]
    audit.record(session, actor=actor.username, action="grant.revoke", target=f"grant:{grant_id}")
    notifications.notify(
        session,
        grant.grantee,
        "grant_revoked",
        f"이용 권한 {grant_id}이(가) 철회되었습니다",
        f"Access grant {grant_id} was revoked",
        f"/grants#{grant_id}",
    )
    return grant


def grants_of(session: Session, user: User) -> list[Grant]:
    """Grants held by the user, newest first."""
    query = select(Grant).where(Grant.grantee_id == user.id).order_by(Grant.issued_at.desc())
    return list(session.execute(query).scalars())


def grants_for_site(session: Session, site_id: str) -> list[Grant]:
    """Grants that cover a site's datasets (what its DRB oversees)."""
    query = select(Grant).order_by(Grant.issued_at.desc())
    return [g for g in session.execute(query).scalars() if site_id in grant_sites(g)]
