"""The inference audit trail: every hook call on record, without identifiers.

Per call: time, service, hook instance, model name, version and SHA-256, a keyed hash of the model inputs
(HMAC-SHA256 under the service's audit key, so identical inputs can be matched without storing them), the HTTP
status and reason, the probability and card shown, and the latency. Feedback joins by card uuid. No patient id,
user id or free text is stored: a refusal's reason is scrubbed of FHIR resource references and quoted ids.

Beside it, in a table that stays at the site and is never published (`cds_inference_site`), a scored call keeps
what monitoring needs: the model's input values (for input drift) and, for linking outcomes from the site's CDM
later, a keyed hash of the FHIR patient id (HMAC-SHA256 under a sub-key of the same audit key, so only the site
that holds the key can link) with the evaluation date.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from dari.care.service_db import FixedInsert, RawWriter, tune_connection
from dari.privacy.keys import create_key_file, derive, load_key

INPUTS_PURPOSE = "cds-inference-inputs"
PATIENT_PURPOSE = "cds-inference-patient"
# FHIR references and quoted ids that validation messages may echo ("Patient/123", "patientId '123'").
# The id ends before a FHIR path that follows it ("Observation/o-1.subject …": the id is "o-1").
_REFERENCE = re.compile(
    r"\b(Patient|Observation|Condition|MedicationRequest|ServiceRequest|Encounter|Practitioner)/"
    r"[A-Za-z0-9\-.]+?(?=\.[a-z][A-Za-z]*\b|[^A-Za-z0-9\-.]|$)"
)
_QUOTED_ID = re.compile(r"\b(Patient\.id is|patientId|Patient\.id) '[^']*'")


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


class InferenceSiteRecord(_Base):
    """Site-only facts of a call, for monitoring at the site; never published."""

    __tablename__ = "cds_inference_site"
    inference_id: Mapped[int] = mapped_column(ForeignKey("cds_inference.id"), primary_key=True)
    patient_hmac: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    evaluation_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    inputs_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # raw values in spec units, scored calls


def scrub_reason(reason: str) -> str:
    """A refusal's reason without FHIR resource ids or quoted patient ids (validation messages may echo them)."""
    return _QUOTED_ID.sub(r"\1 '…'", _REFERENCE.sub(r"\1/…", reason))


def _json_inputs(inputs: Mapping[str, Any]) -> str:
    """Raw input values as JSON: numbers as floats, yes/no as 0/1, missing (or non-finite) as null."""
    values: dict[str, float | None] = {}
    for name, value in inputs.items():
        if isinstance(value, bool):
            values[name] = 1.0 if value else 0.0
        elif isinstance(value, int | float) and math.isfinite(value):
            values[name] = float(value)
        else:
            values[name] = None
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


class InferenceLog:
    """Writer and reader of the audit trail in the service's database file."""

    def __init__(self, database: Path, key_file: Path | None = None) -> None:
        self.engine = create_engine(f"sqlite:///{database.resolve()}")
        event.listen(self.engine, "connect", tune_connection)
        _Base.metadata.create_all(self.engine)
        key_path = key_file or audit_key_path(database)
        if not key_path.exists():
            create_key_file(key_path)  # mode 0600, never overwritten
        master = load_key(key_path)
        self._key = derive(master, INPUTS_PURPOSE)
        self._patient_key = derive(master, PATIENT_PURPOSE)
        # The record is on the latency path of every hook call (see `dari.care.service_db`).
        self._writer = RawWriter(self.engine)
        self._call = FixedInsert(InferenceRecord.__table__, self.engine, skip=("id",))  # type: ignore[arg-type]
        self._site = FixedInsert(InferenceSiteRecord.__table__, self.engine)  # type: ignore[arg-type]

    def inputs_hash(self, inputs: Mapping[str, Any]) -> str:
        """HMAC-SHA256 of the canonical JSON of the model inputs."""
        canonical = json.dumps(dict(inputs), sort_keys=True, separators=(",", ":"), default=str)
        return hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()

    def patient_hash(self, patient_id: str) -> str:
        """HMAC-SHA256 of the FHIR patient id under the patient sub-key (links outcomes at the site only)."""
        return patient_hash(self._patient_key, patient_id)

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
        patient_id: str | None = None,
        evaluation_date: date | None = None,
    ) -> None:
        """Append one call (one transaction); the site-only row is written when there is something to keep."""
        scored = probability is not None and inputs is not None
        keep_site = scored or patient_id is not None or evaluation_date is not None
        call = {
            "at": datetime.now(UTC),
            "service_id": service_id[:128],
            "hook_instance": hook_instance[:64],
            "model": model[:128],
            "model_sha256": model_sha256,
            "inputs_hmac": self.inputs_hash(inputs) if inputs is not None else None,
            "status": status,
            "reason": scrub_reason(reason)[:300],
            "probability": probability,
            "indicator": indicator,
            "card_uuid": card_uuid,
            "latency_ms": latency_ms,
        }
        site = {
            "patient_hmac": self.patient_hash(patient_id) if patient_id is not None else None,
            "evaluation_date": evaluation_date,
            "inputs_json": _json_inputs(inputs) if scored and inputs is not None else None,
        }

        def insert(cursor: Any) -> None:
            cursor.execute(self._call.sql, self._call.params(call))
            if keep_site:
                cursor.execute(self._site.sql, self._site.params({**site, "inference_id": cursor.lastrowid}))

        self._writer.write(insert)

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

    def site_rows(self) -> list[InferenceSiteRecord]:
        """Every site-only record, by call id (for monitoring at the site and tests)."""
        with Session(self.engine) as s:
            return list(s.execute(select(InferenceSiteRecord).order_by(InferenceSiteRecord.inference_id)).scalars())

    def close(self) -> None:
        """Release the database."""
        self._writer.close()
        self.engine.dispose()


def audit_key_path(database: Path) -> Path:
    """Where a service's audit key lives by default: beside its database (`cds.db` → `cds.audit.key`)."""
    return database.with_suffix(".audit.key")


def patient_key(key_file: Path) -> bytes:
    """The patient-hash sub-key of an audit key file (for linking outcomes at the site)."""
    return derive(load_key(key_file), PATIENT_PURPOSE)


def patient_hash(key: bytes, patient_id: str) -> str:
    """HMAC-SHA256 of a FHIR patient id under the patient sub-key."""
    return hmac.new(key, patient_id.encode(), hashlib.sha256).hexdigest()
