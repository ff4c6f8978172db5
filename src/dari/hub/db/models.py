"""SQLAlchemy 2 models of the hub: sites, users, datasets, study applications, DRB reviews, grants, audit log,
the model registry and deployment approvals, and the monitoring of deployed models in real use.

Times are stored as timezone-aware UTC. JSON columns hold only disclosure-controlled catalog content and
lists of small enumerations; nothing here is a patient row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every hub table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Site(Base):
    """A hospital of the consortium; its DRB decides on every application that requests its data."""

    __tablename__ = "site"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_ko: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    drb_quorum: Mapped[int] = mapped_column(Integer, default=1)


class User(Base):
    """A person with one role; stewards and DRB members belong to a site."""

    __tablename__ = "hub_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("site.id"), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    """A site's published dataset record (HealthDCAT-AP fields) and its protected characterisation."""

    __tablename__ = "dataset"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    title_ko: Mapped[str] = mapped_column(String(500))
    title_en: Mapped[str] = mapped_column(String(500))
    description_ko: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    characterisation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    quality_score: Mapped[float | None] = mapped_column(nullable=True)
    published_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    site: Mapped[Site] = relationship()


class Application(Base):
    """A study application: who asks for which datasets, for which analyses, for how long, and why."""

    __tablename__ = "application"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    title: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[str] = mapped_column(Text)
    irb_number: Mapped[str] = mapped_column(String(100))
    applicant_affiliation: Mapped[str] = mapped_column(String(300), default="", server_default="")
    analysis_types: Mapped[list[str]] = mapped_column(JSON)
    # [{"table": ..., "concept_set": ... or null, "label": ...}]; plain strings in applications made before 0005
    variables: Mapped[list[Any]] = mapped_column(JSON)
    cohort: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # a dari cohort definition
    dua_version: Mapped[str] = mapped_column(String(32), default="", server_default="")
    dua_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    period_start: Mapped[dt.datetime] = mapped_column()
    period_end: Mapped[dt.datetime] = mapped_column()
    dua_accepted_at: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(32), default="under_review")
    submission_key: Mapped[str] = mapped_column(String(64), unique=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    applicant: Mapped[User] = relationship()
    datasets: Mapped[list[ApplicationDataset]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    reviews: Mapped[list[Review]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    documents: Mapped[list[ApplicationDocument]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ApplicationDataset(Base):
    """One dataset an application requests (and so one site whose DRB must decide)."""

    __tablename__ = "application_dataset"
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("dataset.id"), primary_key=True)
    dataset: Mapped[Dataset] = relationship(lazy="selectin")


class Review(Base):
    """One DRB member's decision on an application, for their site."""

    __tablename__ = "drb_review"
    __table_args__ = (UniqueConstraint("application_id", "reviewer_id", name="uq_review_once"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    decision: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reviewer: Mapped[User] = relationship(lazy="selectin")


class Grant(Base):
    """Access issued when every involved site approved: scoped to datasets, analyses and a period; revocable."""

    __tablename__ = "access_grant"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), unique=True)
    grantee_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    dataset_ids: Mapped[list[str]] = mapped_column(JSON)
    analysis_types: Mapped[list[str]] = mapped_column(JSON)
    conditions: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[dt.datetime] = mapped_column()
    valid_until: Mapped[dt.datetime] = mapped_column()
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("hub_user.id"), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    epsilon_budget: Mapped[float | None] = mapped_column(nullable=True, default=None)  # the DRB's ε per grant
    application: Mapped[Application] = relationship(lazy="selectin")
    grantee: Mapped[User] = relationship(foreign_keys=[grantee_id], lazy="selectin")
    site_revocations: Mapped[list[GrantSiteRevocation]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class WebSession(Base):
    """A portal login: only the token's hash is stored; expires on its own and on logout."""

    __tablename__ = "web_session"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    user: Mapped[User] = relationship(lazy="selectin")


class LoginThrottleRecord(Base):
    """Failed logins of one account or one client address (both kept as hashes), and until when it is locked."""

    __tablename__ = "login_throttle"
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # "account" or "address"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[dt.datetime] = mapped_column()
    locked_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class AuditHead(Base):
    """One row holding the chain's last sequence number and hash; locked while an entry is appended."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """An append-only, hash-chained record of an action (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_entry"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class RegisteredModel(Base):
    """A model in the hub's registry, known by the SHA-256 of its ONNX file."""

    __tablename__ = "registered_model"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    card: Mapped[dict[str, Any]] = mapped_column(JSON)
    registered_by: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ValidationReport(Base):
    """A multicenter validation report of a registered model (its results file hashed, its sites listed)."""

    __tablename__ = "validation_report"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model_sha256: Mapped[str] = mapped_column(ForeignKey("registered_model.sha256"))
    results_sha256: Mapped[str] = mapped_column(String(64))
    sites: Mapped[list[str]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_by: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    model: Mapped[RegisteredModel] = relationship(lazy="selectin")


class DeploymentApproval(Base):
    """A site's approval of a validation report for use in its care; withdrawn at once when needed."""

    __tablename__ = "deployment_approval"
    __table_args__ = (UniqueConstraint("report_id", "site_id", name="uq_approval_per_site"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("validation_report.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    approver_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    approved_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    withdraw_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    report: Mapped[ValidationReport] = relationship(lazy="selectin")


class MonitoringPublicationRecord(Base):
    """One monitoring publication a site sent about a deployed model; every one is kept."""

    __tablename__ = "monitoring_publication"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    model_sha256: Mapped[str] = mapped_column(ForeignKey("registered_model.sha256"))
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(50))
    report_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    generated_at: Mapped[dt.datetime] = mapped_column()
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_by: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    window_count: Mapped[int] = mapped_column(Integer)
    inference_count: Mapped[int] = mapped_column(Integer)


class MonitoringWindowRecord(Base):
    """One window of a publication; of the versions of a window (same model, site, start) the latest is read."""

    __tablename__ = "monitoring_window"
    __table_args__ = (
        UniqueConstraint("publication_id", "window_start", name="uq_window_per_publication"),
        Index("ix_monitoring_window_model_site_start", "model_sha256", "site_id", "window_start"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("monitoring_publication.id"))
    model_sha256: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[dt.datetime] = mapped_column()
    window_end: Mapped[dt.datetime] = mapped_column()
    calls: Mapped[int] = mapped_column(Integer)
    alert_count: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # the window as published (MonitoringWindow's JSON)


class MonitoringAlertRecord(Base):
    """An alert of one window version, kept as columns so alerts can be queried across models and sites."""

    __tablename__ = "monitoring_alert"
    __table_args__ = (Index("ix_monitoring_alert_model_site_start", "model_sha256", "site_id", "window_start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("monitoring_window.id"))
    publication_id: Mapped[int] = mapped_column(ForeignKey("monitoring_publication.id"))
    model_sha256: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[dt.datetime] = mapped_column()
    window_end: Mapped[dt.datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    value: Mapped[float] = mapped_column()
    threshold: Mapped[float] = mapped_column()
    message_en: Mapped[str] = mapped_column(Text)
    message_ko: Mapped[str] = mapped_column(Text)


class InferenceRecord(Base):
    """One call of a deployed model at a site, without identifiers; kept once per (service, hook instance, time)."""

    __tablename__ = "inference_entry"
    __table_args__ = (
        UniqueConstraint("model_sha256", "site_id", "service_id", "hook_instance", "at", name="uq_inference_once"),
        Index("ix_inference_entry_model_site_at", "model_sha256", "site_id", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("monitoring_publication.id"))
    model_sha256: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column()
    service_id: Mapped[str] = mapped_column(String(200))
    hook_instance: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(50))
    status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    probability: Mapped[float | None] = mapped_column(nullable=True)
    indicator: Mapped[str | None] = mapped_column(String(32), nullable=True)
    card_uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    latency_ms: Mapped[float] = mapped_column()
    feedback: Mapped[str | None] = mapped_column(String(16), nullable=True)


# Tables of the DRB review (documents, per-site revocation) live in their own module; imported here so that the
# metadata and the relationships above are complete wherever the models are imported.
from dari.hub.db.governance_records import ApplicationDocument, GrantSiteRevocation  # noqa: E402
