"""Tables of the people's workflows: in-app notifications (and their e-mail delivery), users' e-mail addresses,
clinicians' feedback on deployed models, and stewards' pseudonymisation sign-offs.

Nothing here holds a patient row: a notification names a report, grant or model and links to its page; feedback is
a clinician's free text about a model, which the form asks to keep free of patient details.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dari.hub.db.models import Base, User, utcnow


class Notification(Base):
    """One state change that concerns one user; read in the portal, and mailed when an SMTP server is set."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    kind: Mapped[str] = mapped_column(String(40))
    subject_ko: Mapped[str] = mapped_column(String(300))
    subject_en: Mapped[str] = mapped_column(String(300))
    link: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # E-mail: sent once; failures are counted so a dead server does not retry forever.
    mailed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    mail_attempts: Mapped[int] = mapped_column(Integer, default=0)


class EmailAddress(Base):
    """Where a user's notifications are mailed (set by the user on the notifications page)."""

    __tablename__ = "user_email"
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ModelFeedback(Base):
    """A clinician's feedback on a model deployed at their site; read by its vendor and the site's approvers."""

    __tablename__ = "model_feedback"
    __table_args__ = (Index("ix_model_feedback_model_site", "model_sha256", "site_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_sha256: Mapped[str] = mapped_column(ForeignKey("registered_model.sha256"))
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    rating: Mapped[str] = mapped_column(String(16))  # useful | not_useful | wrong
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    author: Mapped[User] = relationship(lazy="selectin")


class PseudonymisationSignoff(Base):
    """A steward's signature on a dataset's pseudonymisation record (the risk report's SHA-256 and verdict)."""

    __tablename__ = "pseudonymisation_signoff"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("dataset.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    report_sha256: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))  # pass | fail
    note: Mapped[str] = mapped_column(Text, default="")
    signed_by: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    signed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    signer: Mapped[User] = relationship(lazy="selectin")
