"""CDS Hooks 2.0 feedback: what clinicians did with each card, in a small SQLite table, without patient data.

Cards issued are recorded too (uuid, service, model version, indicator, probability), so feedback can be tied
to the score band it answered. Neither table holds a patient id, encounter id, user id or free text: a feedback
`userComment` may name the patient and is dropped.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from dari.care.service_db import FixedInsert, RawWriter, tune_connection
from dari.errors import InputError


class _Base(DeclarativeBase):
    pass


class IssuedCard(_Base):
    """A card the service returned (no patient data)."""

    __tablename__ = "cds_card_issued"
    card_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))  # "<name> <version>"
    indicator: Mapped[str] = mapped_column(String(16))
    probability: Mapped[float] = mapped_column(Float)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CardFeedback(_Base):
    """One feedback item: accepted or overridden, with a coded reason."""

    __tablename__ = "cds_feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(ForeignKey("cds_card_issued.card_uuid"), index=True)
    service_id: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    override_system: Mapped[str | None] = mapped_column(String(256))
    override_code: Mapped[str | None] = mapped_column(String(64))
    outcome_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Coding(_In):
    """A FHIR Coding as CDS Hooks carries it."""

    system: str | None = None
    code: str = Field(min_length=1, max_length=64)
    display: str | None = None


class OverrideReason(_In):
    """Why a card was overridden; `userComment` is accepted and never stored."""

    reason: Coding | None = None
    userComment: str | None = None  # noqa: N815 (CDS Hooks' field name)


class AcceptedSuggestion(_In):
    """A suggestion the user took."""

    id: str


class FeedbackItem(_In):
    """One element of a CDS Hooks 2.0 feedback request."""

    card: uuid.UUID
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: tuple[AcceptedSuggestion, ...] = ()  # noqa: N815
    overrideReason: OverrideReason | None = None  # noqa: N815
    outcomeTimestamp: datetime  # noqa: N815


class FeedbackRequest(_In):
    """`POST {service}/feedback` body."""

    feedback: Annotated[tuple[FeedbackItem, ...], Field(min_length=1, max_length=100)]


class UnknownCardError(InputError):
    """Feedback about a card this service never issued (or issued by another service)."""


class FeedbackStore:
    """The service's SQLite file: issued cards and feedback."""

    def __init__(self, path: Path) -> None:
        self.engine: Engine = create_engine(f"sqlite:///{path.resolve()}")
        event.listen(self.engine, "connect", tune_connection)
        _Base.metadata.create_all(self.engine)
        # The card record is on the latency path of every card (see `dari.care.service_db`).
        self._writer = RawWriter(self.engine)
        self._card = FixedInsert(IssuedCard.__table__, self.engine)  # type: ignore[arg-type]

    def record_card(self, card_uuid: str, service_id: str, model: str, indicator: str, probability: float) -> None:
        """Remember a card that was returned (one committed insert)."""
        row = {
            "card_uuid": card_uuid,
            "service_id": service_id,
            "model": model,
            "indicator": indicator,
            "probability": probability,
            "issued_at": datetime.now(UTC),
        }
        self._writer.write(lambda cursor: cursor.execute(self._card.sql, self._card.params(row)))

    def record_feedback(self, service_id: str, request: FeedbackRequest) -> int:
        """Store every item (all or none); refuses feedback on cards this service did not issue."""
        now = datetime.now(UTC)
        with Session(self.engine) as s, s.begin():
            for item in request.feedback:
                card = s.get(IssuedCard, str(item.card))
                if card is None or card.service_id != service_id:
                    raise UnknownCardError(f"card {item.card} was not issued by service {service_id!r}")
                reason = item.overrideReason.reason if item.overrideReason else None
                if item.outcome == "accepted" and reason is not None:
                    raise InputError(f"card {item.card}: an accepted card takes no overrideReason")
                s.add(
                    CardFeedback(
                        card_uuid=str(item.card),
                        service_id=service_id,
                        outcome=item.outcome,
                        override_system=reason.system if reason else None,
                        override_code=reason.code if reason else None,
                        outcome_at=item.outcomeTimestamp,
                        received_at=now,
                    )
                )
        return len(request.feedback)

    def feedback_rows(self) -> list[CardFeedback]:
        """All feedback, oldest first (for reports and tests)."""
        with Session(self.engine) as s:
            return list(s.scalars(select(CardFeedback).order_by(CardFeedback.id)))

    def close(self) -> None:
        """Release the database file."""
        self._writer.close()
        self.engine.dispose()
