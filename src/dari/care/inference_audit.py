"""The inference audit trail: every hook call on record, without identifiers.

Per call: time, service, hook instance, model name, version and SHA-256, a keyed hash of the model inputs
(HMAC-SHA256 under the service's audit key, so identical inputs can be matched without storing them), the HTTP
status and reason, the probability and card shown, and the latency. Feedback joins by card uuid. No patient id,
user id or free text is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Float, Integer, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from dari.privacy.keys import create_key_file, derive, load_key


class _Base(DeclarativeBase):
    pass


class InferenceRecord(_Base):
    """One hook call."""

    __tablename__ = "cds_inference"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    service_id: Mapped[str] = mapped_column(String(128))
    hook_instance: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    model_sha256: Mapped[str] = mapped_column(String(64))
    inputs_hmac: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300))
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    indicator: Mapped[str | None] = mapped_column(String(16), nullable=True)
    card_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)


class InferenceLog:
    """Writer and reader of the audit trail in the service's database file."""

    def __init__(self, database: Path, key_file: Path | None = None) -> None:
        self.engine = create_engine(f"sqlite:///{database.resolve()}")
        _Base.metadata.create_all(self.engine)
        key_path = key_file or database.with_suffix(".audit.key")
        if not key_path.exists():
            create_key_file(key_path)  # mode 0600, never overwritten
        self._key = derive(load_key(key_path), "cds-inference-inputs")

    def inputs_hash(self, inputs: Mapping[str, Any]) -> str:
        """HMAC-SHA256 of the canonical JSON of the model inputs."""
        canonical = json.dumps(dict(inputs), sort_keys=True, separators=(",", ":"), default=str)
        return hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()

    def record(
        self,
        *,
        service_id: str,
        hook_instance: str,
        model: str,
        model_sha256: str,
        inputs: Mapping[str, Any] | None,
        status: int,
        reason: str,
        probability: float | None,
        indicator: str | None,
        card_uuid: str | None,
        latency_ms: float,
    ) -> None:
        """Append one call."""
        with Session(self.engine) as s, s.begin():
            s.add(
                InferenceRecord(
                    at=datetime.now(UTC),
                    service_id=service_id[:128],
                    hook_instance=hook_instance[:64],
                    model=model[:128],
                    model_sha256=model_sha256,
                    inputs_hmac=self.inputs_hash(inputs) if inputs is not None else None,
                    status=status,
                    reason=reason[:300],
                    probability=probability,
                    indicator=indicator,
                    card_uuid=card_uuid,
                    latency_ms=latency_ms,
                )
            )

    def summary(self) -> list[dict[str, Any]]:
        """Calls per model and status, with mean latency (what the hub's monitoring page reads)."""
        query = (
            select(
                InferenceRecord.model,
                InferenceRecord.status,
                func.count(),
                func.avg(InferenceRecord.latency_ms),
                func.avg(InferenceRecord.probability),
            )
            .group_by(InferenceRecord.model, InferenceRecord.status)
            .order_by(InferenceRecord.model, InferenceRecord.status)
        )
        with Session(self.engine) as s:
            return [
                {"model": m, "status": st, "calls": int(n), "mean_latency_ms": lat, "mean_probability": p}
                for m, st, n, lat, p in s.execute(query)
            ]

    def rows(self) -> list[InferenceRecord]:
        """Every record, oldest first."""
        with Session(self.engine) as s:
            return list(s.execute(select(InferenceRecord).order_by(InferenceRecord.id)).scalars())

    def close(self) -> None:
        """Release the database."""
        self.engine.dispose()
