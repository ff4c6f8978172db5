"""The score as a FHIR R4 RiskAssessment (fhir.resources.R4B), with the bounds R4B does not check checked here."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from fhir.resources.R4B.riskassessment import RiskAssessment

from dari.care.fhir_inputs import MappedInputs
from dari.care.served_model import Score, ServedModel
from dari.errors import InputError

OUTCOME_SYSTEM = "urn:dari:model-outcome"  # the outcome a dari feature spec defines, named by the spec


def build_risk_assessment(
    model: ServedModel, patient_id: str, mapped: MappedInputs, score: Score, occurred: datetime, resource_id: str
) -> RiskAssessment:
    """A final RiskAssessment: subject, when, the coded outcome with its probability, and the data used."""
    p = score.probability
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):  # R4's ras-2 invariant; R4B's model does not enforce it
        raise InputError(f"probabilityDecimal must lie in [0, 1], got {p}")
    spec = model.spec
    start = mapped.at + timedelta(days=spec.outcome.window_start_days)
    end = mapped.at + timedelta(days=spec.outcome.window_end_days)
    data: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "id": resource_id,
        "status": "final",
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": occurred.isoformat(),
        "method": {"text": f"dari {model.card.name} {model.card.version} (model sha256 {model.model.sha256[:12]})"},
        "basis": [{"reference": ref} for ref in mapped.basis],
        "prediction": [
            {
                "outcome": {
                    "coding": [{"system": OUTCOME_SYSTEM, "code": spec.name, "display": spec.outcome.label_en}],
                    "text": spec.outcome.label_ko,
                },
                "probabilityDecimal": p,
                "whenPeriod": {"start": start.isoformat(), "end": end.isoformat()},
            }
        ],
    }
    if mapped.imputed:
        data["note"] = [{"text": "imputed by the model's declared values: " + ", ".join(mapped.imputed)}]
    resource = RiskAssessment.model_validate(data)
    check_risk_assessment(resource)
    return resource


def check_risk_assessment(resource: RiskAssessment) -> None:
    """Refuse what R4 forbids but R4B's classes accept: bad status, probabilities outside [0, 1]."""
    if resource.status not in (
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    ):
        raise InputError(f"RiskAssessment.status {resource.status!r} is not an R4 ObservationStatus code")
    for i, pred in enumerate(resource.prediction or []):
        value = pred.probabilityDecimal
        if value is not None and not 0 <= float(value) <= 1:
            raise InputError(f"RiskAssessment.prediction[{i}].probabilityDecimal {value} is outside [0, 1]")
