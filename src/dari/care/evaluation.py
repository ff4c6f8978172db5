"""One evaluation, shared by the hooks and the FHIR endpoint: request → evaluation date → inputs → score."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dari.care.fhir_inputs import FhirMapper, MappedInputs
from dari.care.fhir_parse import MalformedFhirError, parse_prefetch
from dari.care.served_model import Score, ServedModel
from dari.errors import InputError

AS_OF_EXTENSION = "dari-as-of"  # evaluation date for replaying historical data; honoured only when allowed
ORDER_TYPES = ("MedicationRequest", "ServiceRequest")


class HookContext(BaseModel):
    """The hook context fields the service reads; the others (userId, encounterId, …) pass unread."""

    model_config = ConfigDict(extra="allow", frozen=True)

    patientId: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]{1,64}$")  # noqa: N815 (FHIR id)
    selections: tuple[str, ...] = ()
    draftOrders: dict[str, Any] | None = None  # noqa: N815


class HookRequest(BaseModel):
    """A CDS Hooks 2.0 service request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hook: str = Field(min_length=1)
    hookInstance: uuid.UUID  # noqa: N815
    fhirServer: str | None = None  # noqa: N815
    fhirAuthorization: dict[str, Any] | None = None  # noqa: N815
    context: HookContext
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None


class EvaluateRequest(BaseModel):
    """`POST /fhir/RiskAssessment/$evaluate`: the patient and the same prefetch a hook carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patientId: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]{1,64}$")  # noqa: N815
    prefetch: dict[str, Any]
    asOf: date | None = None  # noqa: N815

    @field_validator("prefetch")
    @classmethod
    def _nonempty(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            raise ValueError("prefetch must not be empty")
        return v


@dataclass(frozen=True)
class Evaluation:
    """The inputs, the score (None when the patient is outside the model's population) and when."""

    mapped: MappedInputs
    score: Score | None
    occurred: datetime


def _order_date(context: HookContext, tz: ZoneInfo) -> date | None:
    """The authoredOn date of the selected draft orders (order-select), latest first."""
    entries = (context.draftOrders or {}).get("entry") or []
    wanted = set(context.selections)
    days: list[date] = []
    for entry in entries:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or res.get("resourceType") not in ORDER_TYPES:
            continue
        if wanted and f"{res['resourceType']}/{res.get('id')}" not in wanted:
            continue
        authored = res.get("authoredOn")
        if authored is None:
            continue
        try:
            when = datetime.fromisoformat(str(authored))
        except ValueError:
            kind = res["resourceType"]
            raise MalformedFhirError(f"draftOrders {kind}.authoredOn {authored!r} is not a dateTime") from None
        days.append(when.astimezone(tz).date() if when.tzinfo else when.date())
    return max(days) if days else None


def evaluation_date(request: HookRequest, tz: ZoneInfo, allow_as_of: bool) -> date:
    """The day the spec's lookback windows end: the order date for order-select, else today in `tz`."""
    asked = (request.extension or {}).get(AS_OF_EXTENSION)
    if asked is not None:
        if not allow_as_of:
            raise InputError(f"extension {AS_OF_EXTENSION!r} is not allowed by this service (replay only)")
        try:
            return date.fromisoformat(str(asked))
        except ValueError:
            raise InputError(f"extension {AS_OF_EXTENSION!r} must be a date (YYYY-MM-DD), got {asked!r}") from None
    if request.hook == "order-select":
        ordered = _order_date(request.context, tz)
        if ordered is not None:
            return ordered
    return datetime.now(tz).date()


def evaluate(
    model: ServedModel,
    mapper: FhirMapper,
    patient_id: str,
    prefetch: dict[str, Any] | None,
    at: date,
    tz: ZoneInfo,
    *,
    strict: bool = False,
) -> Evaluation:
    """Parse, map and score (no score for a patient the model is not for); errors are the typed ones the HTTP
    layer turns into 400/412/422.

    `strict` validates the prefetch whole with fhir.resources R4B as well (see `parse_prefetch`)."""
    record = parse_prefetch(model.spec, prefetch, patient_id, strict=strict)
    mapped = mapper.map(record, at)
    score = None if mapped.row is None else model.score(mapped.row)
    now = datetime.now(tz)
    occurred = now if at == now.date() else datetime(at.year, at.month, at.day, tzinfo=tz)
    return Evaluation(mapped, score, occurred)
