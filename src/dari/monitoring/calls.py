"""The CDS service's log as monitoring reads it: every call of one model, with its site-only facts and feedback.

Read from the service's SQLite file (the inference audit, its site-only table and the feedback table); it only
reads, so it can run while the service writes (WAL). Feedback joins by card uuid; when a card received several
feedback items, the latest counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import create_engine, inspect, select

from dari.care.feedback import CardFeedback
from dari.care.inference_audit import InferenceRecord, InferenceSiteRecord
from dari.errors import InputError

Feedback = Literal["accepted", "overridden"]


@dataclass(frozen=True)
class LoggedCall:
    """One hook call with what the site keeps beside it (`patient_hmac`, `evaluation_date`, `inputs`)."""

    id: int
    at: datetime  # UTC
    service_id: str
    hook_instance: str
    model_sha256: str
    status: int
    reason: str
    probability: float | None
    indicator: str | None
    card_uuid: str | None
    latency_ms: float
    feedback: Feedback | None
    patient_hmac: str | None
    evaluation_date: date | None
    inputs: dict[str, float | None] | None  # raw values in the spec's units; None where missing

    @property
    def scored(self) -> bool:
        """Whether the model gave a probability."""
        return self.probability is not None


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)  # SQLite keeps naive UTC


def read_calls(
    database: Path, *, model_sha256: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> list[LoggedCall]:
    """Calls in the service database (of one model when given), oldest first, in [since, until)."""
    if not database.is_file():
        raise InputError("CDS service database not found", file=str(database))
    # Opened read-write but only read: a read-only SQLite connection cannot open a WAL database whose -shm is absent.
    engine = create_engine(f"sqlite:///{database.resolve()}")
    try:
        tables = set(inspect(engine).get_table_names())
        if InferenceRecord.__tablename__ not in tables:
            raise InputError("not a CDS service database (no inference log)", file=str(database))
        query = select(InferenceRecord).order_by(InferenceRecord.id)
        if model_sha256 is not None:
            query = query.where(InferenceRecord.model_sha256 == model_sha256)
        with engine.connect() as conn:
            calls = list(conn.execute(query))
            site = {}
            if InferenceSiteRecord.__tablename__ in tables:
                site = {r.inference_id: r for r in conn.execute(select(InferenceSiteRecord))}
            feedback: dict[str, Feedback] = {}
            if CardFeedback.__tablename__ in tables:
                for card, outcome in conn.execute(
                    select(CardFeedback.card_uuid, CardFeedback.outcome).order_by(CardFeedback.id)
                ):
                    feedback[card] = "accepted" if outcome == "accepted" else "overridden"
    finally:
        engine.dispose()
    out: list[LoggedCall] = []
    for r in calls:
        at = _utc(r.at)
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        s = site.get(r.id)
        out.append(
            LoggedCall(
                id=r.id,
                at=at,
                service_id=r.service_id,
                hook_instance=r.hook_instance,
                model_sha256=r.model_sha256,
                status=r.status,
                reason=r.reason,
                probability=r.probability,
                indicator=r.indicator,
                card_uuid=r.card_uuid,
                latency_ms=r.latency_ms,
                feedback=feedback.get(r.card_uuid) if r.card_uuid else None,
                patient_hmac=s.patient_hmac if s is not None else None,
                evaluation_date=s.evaluation_date if s is not None else None,
                inputs=json.loads(s.inputs_json) if s is not None and s.inputs_json else None,
            )
        )
    return out
