"""Saved cohorts of the portal's cohort builder: a user's cohort definitions (dari cohort JSON), nothing else.

A definition names concepts by vocabulary and code, never a patient; counts are not stored (each run asks the
sites again under the grant of that moment).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dari.hub.db.models import Base, utcnow


class SavedCohort(Base):
    """One user's saved cohort definition (the whole dari cohort JSON)."""

    __tablename__ = "saved_cohort"
    __table_args__ = (Index("ix_saved_cohort_owner", "owner_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
