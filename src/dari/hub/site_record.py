"""The steward's view of their site: what it published, its data quality, the pseudonymisation sign-offs, and
every job the hub issued a ticket for at the site (from the audit log, allowed and refused)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.hub import audit
from dari.hub.db.models import AuditEntry, Dataset, User
from dari.hub.db.roles_tables import PseudonymisationSignoff
from dari.hub.governance.errors import ForbiddenError, NotFoundError

JOB_SCAN_LIMIT = 2000  # newest job.ticket entries scanned for the site (the detail's site is JSON, not a column)


class SignoffCreate(BaseModel):
    """A sign-off form: which dataset, the SHA-256 of the risk report signed, the verdict and a note."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    dataset_id: str = Field(min_length=1, max_length=128)
    report_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    verdict: str = Field(pattern=r"^(pass|fail)$")
    note: str = Field(default="", max_length=4000)


def _require_steward(user: User) -> str:
    if user.role != "data_steward" or user.site_id is None:
        raise ForbiddenError(f"role {user.role} has no site record page")
    return user.site_id


def sign_pseudonymisation(session: Session, steward: User, form: SignoffCreate) -> PseudonymisationSignoff:
    """Record the steward's signature on a pseudonymisation record of one of their site's datasets (audited)."""
    site_id = _require_steward(steward)
    dataset = session.get(Dataset, form.dataset_id)
    if dataset is None:
        raise NotFoundError(f"unknown dataset {form.dataset_id[:128]!r}")
    if dataset.site_id != site_id:
        raise ForbiddenError(f"dataset {dataset.id} belongs to {dataset.site_id}, not {site_id}")
    row = PseudonymisationSignoff(
        dataset_id=dataset.id,
        site_id=site_id,
        report_sha256=form.report_sha256,
        verdict=form.verdict,
        note=form.note.strip(),
        signed_by=steward.id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=steward.username,
        action="pseudonymisation.signoff",
        target=f"dataset:{dataset.id}",
        outcome="allow" if form.verdict == "pass" else "deny",
        detail={"site": site_id, "report_sha256": form.report_sha256, "verdict": form.verdict},
    )
    return row


class SiteRecord(BaseModel):
    """What the site page shows."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    site_id: str
    datasets: list[Dataset]
    signoffs: list[PseudonymisationSignoff]
    jobs: list[AuditEntry]


def site_record(session: Session, steward: User) -> SiteRecord:
    """The steward's site: published datasets, sign-offs (newest first) and job tickets issued for it."""
    site_id = _require_steward(steward)
    datasets = list(session.execute(select(Dataset).where(Dataset.site_id == site_id).order_by(Dataset.id)).scalars())
    signoffs = list(
        session.execute(
            select(PseudonymisationSignoff)
            .where(PseudonymisationSignoff.site_id == site_id)
            .order_by(PseudonymisationSignoff.id.desc())
        ).scalars()
    )
    entries = session.execute(
        select(AuditEntry)
        .where(AuditEntry.action == "job.ticket")
        .order_by(AuditEntry.seq.desc())
        .limit(JOB_SCAN_LIMIT)
    ).scalars()
    jobs = [e for e in entries if (e.detail or {}).get("site") == site_id]
    return SiteRecord(site_id=site_id, datasets=datasets, signoffs=signoffs, jobs=jobs)


def latest_signoff(record: SiteRecord, dataset_id: str) -> PseudonymisationSignoff | None:
    """The newest sign-off of a dataset (what its status is)."""
    return next((s for s in record.signoffs if s.dataset_id == dataset_id), None)
