"""Access grants: issued only by joint approval, scoped, self-expiring, revocable at once, per site.

`check_grant` is the one question every job asks before it touches a site's data: may this user run this analysis
on this dataset now? There is no other path to a yes.

Revocation rule (docs/hub.md): a grant is scoped per site. A site's DRB member revokes only that site's part: the
site's datasets stop being covered at once, for good; the grant stays for the other sites, whose DRBs each decide
whether to revoke theirs. A platform admin revokes the whole grant (every site). A grant whose every site revoked
its part is revoked as a whole.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.hub import audit, notifications
from dari.hub.db.governance_records import GrantSiteRevocation
from dari.hub.db.models import Application, Dataset, Grant, User, utcnow
from dari.hub.governance.applications import aware as _aware
from dari.hub.governance.decision import GrantDecision
from dari.hub.governance.errors import ConflictError, ForbiddenError, NotFoundError


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
    dataset = session.get(Dataset, dataset_id)
    reasons = []
    for grant in grants:
        if dataset_id not in grant.dataset_ids:
            continue
        if analysis_type not in grant.analysis_types:
            reasons.append(f"{grant.id} does not cover {analysis_type}")
        elif grant.revoked_at is not None:  # final: no later check, whatever time it names, passes
            reasons.append(f"{grant.id} was revoked")
        elif dataset is None:  # no site known to answer for it: never a yes
            reasons.append(f"{grant.id}: dataset {dataset_id} is no longer published")
        elif dataset.site_id in revoked_sites(grant):  # the site withdrew its part: final too
            reasons.append(f"{grant.id} was revoked for {dataset.site_id}")
        elif at < _aware(grant.valid_from):
            reasons.append(f"{grant.id} starts {grant.valid_from:%Y-%m-%d}")
        elif at >= _aware(grant.valid_until):
            reasons.append(f"{grant.id} expired")
        else:
            return GrantDecision(
                allowed=True, grant_id=grant.id, reason="active grant", epsilon_budget=grant.epsilon_budget
            )
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


def revoked_sites(grant: Grant) -> set[str]:
    """Sites that withdrew their part of the grant (every site once the whole grant is revoked)."""
    return grant_sites(grant) if grant.revoked_at is not None else {r.site_id for r in grant.site_revocations}


def active_sites(grant: Grant) -> list[str]:
    """Sites whose part of the grant still stands (expiry aside)."""
    return sorted(grant_sites(grant) - revoked_sites(grant))


def revocation_scope(actor: User, grant: Grant) -> list[str]:
    """The sites a revocation by `actor` would remove: their own site (DRB member), every remaining one (admin)."""
    if actor.role == "platform_admin":
        return active_sites(grant)
    if actor.role == "drb_member" and actor.site_id in grant_sites(grant):
        return [actor.site_id] if actor.site_id not in revoked_sites(grant) else []
    raise ForbiddenError(f"{actor.role} of {actor.site_id or 'no site'} may not revoke {grant.id}")


def revoke_grant(session: Session, actor: User, grant_id: str, reason: str) -> Grant:
    """Revoke at once, for good: a DRB member their own site's part, a platform admin the whole grant."""
    grant = get_grant(session, grant_id)
    sites = revocation_scope(actor, grant)
    if not sites:
        raise ConflictError(f"{grant_id} is revoked already for {actor.site_id or 'every site'}")
    reason = reason.strip()[:2000]
    if not reason:
        raise ConflictError("a revocation needs a reason")
    now = utcnow()
    for site in sites:
        grant.site_revocations.append(
            GrantSiteRevocation(site_id=site, revoked_at=now, revoked_by=actor.id, reason=reason)
        )
    if not active_sites(grant):  # nothing left: the grant as a whole is revoked
        grant.revoked_at, grant.revoked_by, grant.revoke_reason = now, actor.id, reason
    session.flush()
    audit.record(
        session,
        actor=actor.username,
        action="grant.revoke",
        target=f"grant:{grant_id}",
        detail={"sites": sites, "remaining_sites": active_sites(grant), "reason": reason},
    )
    notifications.notify(
        session,
        grant.grantee,
        "grant_revoked",
        f"이용 권한 {grant_id}이(가) 철회되었습니다 ({', '.join(sites)})",
        f"Access grant {grant_id} was revoked ({', '.join(sites)})",
        f"/grants#{grant_id}",
    )
    return grant


def grant_of(session: Session, application: Application) -> Grant | None:
    """The grant issued for an application, if any."""
    return session.execute(select(Grant).where(Grant.application_id == application.id)).scalar_one_or_none()


def grant_state(grant: Grant, now: dt.datetime | None = None) -> str:
    """'active', 'partially_revoked', 'revoked', 'expired' or 'not_started' (revocation before expiry)."""
    at = now or utcnow()
    if not active_sites(grant):
        return "revoked"
    if at >= _aware(grant.valid_until):
        return "expired"
    if revoked_sites(grant):
        return "partially_revoked"
    return "active" if at >= _aware(grant.valid_from) else "not_started"


def application_state(session: Session, application: Application, now: dt.datetime | None = None) -> str:
    """The status shown everywhere: under_review, rejected, approved, approved_with_conditions, partially_revoked,
    revoked or expired (the latter three from the grant)."""
    if application.status != "approved":
        return application.status
    grant = grant_of(session, application)
    state = grant_state(grant, now) if grant is not None else "active"
    if state in ("partially_revoked", "revoked", "expired"):
        return state
    return "approved_with_conditions" if application_conditions(application) else "approved"


def application_conditions(application: Application) -> list[str]:
    """The conditions of approval, each with the site that set it."""
    return [f"{r.site_id}: {r.comment}" for r in application.reviews if r.decision == "approve_with_conditions"]


def grants_of(session: Session, user: User) -> list[Grant]:
    """Grants held by the user, newest first."""
    query = select(Grant).where(Grant.grantee_id == user.id).order_by(Grant.issued_at.desc())
    return list(session.execute(query).scalars())


def grants_for_site(session: Session, site_id: str) -> list[Grant]:
    """Grants that cover a site's datasets (what its DRB oversees)."""
    query = select(Grant).order_by(Grant.issued_at.desc())
    return [g for g in session.execute(query).scalars() if site_id in grant_sites(g)]
