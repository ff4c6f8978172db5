"""Tables of the research pods at the hub: submitted bundles, the manifests sites report, the output checkers'
reviews, and the files released after two approvals.

No patient row is here: a bundle is the researcher's code; a manifest holds names, sizes, SHA-256 and the automatic
checks' findings of a held run (never its contents); a released file is one that two of the site's output checkers
approved and that no blocking rule held back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dari.hub.db.models import Base, Grant, User, utcnow


class PodSubmission(Base):
    """One bundle a researcher submitted under a grant, for one site's dataset, and where its run stands."""

    __tablename__ = "pod_submission"
    __table_args__ = (Index("ix_pod_submission_site_status", "site_id", "status"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("access_grant.id"))
    researcher_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("dataset.id"))
    bundle_name: Mapped[str] = mapped_column(String(200))
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    bundle_size: Mapped[int] = mapped_column(Integer)
    bundle: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # read only when the site pulls it
    # submitted → pulled → held | refused | failed → approved | rejected → released | withheld
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    reason: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    pulled_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    reported_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    released_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    researcher: Mapped[User] = relationship(lazy="selectin")
    grant: Mapped[Grant] = relationship(lazy="selectin")
    reviews: Mapped[list[PodOutputReview]] = relationship(
        lazy="selectin", order_by="PodOutputReview.id", back_populates="submission"
    )
    released: Mapped[list[PodReleasedFile]] = relationship(lazy="selectin", order_by="PodReleasedFile.name")


class PodOutputReview(Base):
    """One output checker's decision on a held run, with the reason they gave (one per checker and run)."""

    __tablename__ = "pod_output_review"
    __table_args__ = (UniqueConstraint("submission_id", "reviewer_id", name="uq_pod_review_once"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("pod_submission.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    decision: Mapped[str] = mapped_column(String(16))  # approve | reject
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reviewer: Mapped[User] = relationship(lazy="selectin")
    submission: Mapped[PodSubmission] = relationship(back_populates="reviews")


class PodReleasedFile(Base):
    """A file the site sent after two approvals; the researcher downloads it from the portal."""

    __tablename__ = "pod_released_file"
    __table_args__ = (UniqueConstraint("submission_id", "name", name="uq_pod_released_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("pod_submission.id"))
    name: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    released_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
