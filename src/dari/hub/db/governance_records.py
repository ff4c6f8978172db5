"""Hub tables of the DRB review: documents attached to an application, and each site's revocation of its part
of a grant."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dari.hub.db.models import Base, User, utcnow


class ApplicationDocument(Base):
    """A document attached to an application (the IRB approval PDF), kept in the hub store with its SHA-256."""

    __tablename__ = "application_document"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"))
    kind: Mapped[str] = mapped_column(String(32))  # "irb_approval"
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # read only when downloaded
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class GrantSiteRevocation(Base):
    """One site's DRB withdrew its part of a grant: that site's datasets are no longer covered; final."""

    __tablename__ = "grant_site_revocation"
    grant_id: Mapped[str] = mapped_column(ForeignKey("access_grant.id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"), primary_key=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_by: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    reason: Mapped[str] = mapped_column(Text)
    revoker: Mapped[User] = relationship(lazy="selectin")
