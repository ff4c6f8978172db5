"""The light FHIR models against fhir.resources R4B (the slow, obviously complete reference): the same resources
accepted, the same field named when refused, the same values read; and where they differ by design, strict
parsing restores R4B's answer."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from care_helpers import PATIENT_ID, observation, searchset
from fhir.resources.R4B.condition import Condition as R4BCondition
from fhir.resources.R4B.observation import Observation as R4BObservation
from fhir.resources.R4B.patient import Patient as R4BPatient
from pydantic import BaseModel, ValidationError

from dari.care import ServedModel
from dari.care.fhir_models import Condition, Observation, Patient
from dari.care.fhir_parse import MalformedFhirError, parse_prefetch


def _obs(**changes: Any) -> dict[str, Any]:
    data = observation("o1", "98979-8", 41.0, "mL/min/{1.73_m2}")
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _cond(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
        },
        "onsetDateTime": "2019-05-02T09:30:00+09:00",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _vq(**changes: Any) -> dict[str, Any]:
    return {"value": 41.0, "system": "http://unitsofmeasure.org", "code": "mL/min/{1.73_m2}"} | changes


CASES: dict[str, tuple[type[BaseModel], type[BaseModel], dict[str, Any]]] = {
    "obs_valid": (Observation, R4BObservation, _obs()),
    "obs_datetime": (Observation, R4BObservation, _obs(effectiveDateTime="2024-03-01T10:15:00+09:00")),
    "obs_year_only": (Observation, R4BObservation, _obs(effectiveDateTime="2024")),
    "obs_instant": (Observation, R4BObservation, _obs(effectiveDateTime=None, effectiveInstant="2024-03-01T01:00:00Z")),
    "obs_period": (Observation, R4BObservation, _obs(effectiveDateTime=None, effectivePeriod={"end": "2024-03-01"})),
    "obs_unread_elements": (Observation, R4BObservation, _obs(note=[{"text": "fasting"}], _status={"id": "s"})),
    "obs_comparator": (Observation, R4BObservation, _obs(valueQuantity=_vq(comparator="<"))),
    "obs_no_status": (Observation, R4BObservation, _obs(status=None)),
    "obs_no_code": (Observation, R4BObservation, _obs(code=None)),
    "obs_unknown_element": (Observation, R4BObservation, _obs(valueQuantityy=_vq())),
    "obs_unknown_in_coding": (
        Observation,
        R4BObservation,
        _obs(code={"coding": [{"system": "http://loinc.org", "code": "98979-8", "cod": "x"}]}),
    ),
    "obs_two_effective": (Observation, R4BObservation, _obs(effectivePeriod={"start": "2024-03-01"})),
    "obs_two_values": (Observation, R4BObservation, _obs(valueString="41")),
    "obs_text_value": (Observation, R4BObservation, _obs(valueQuantity=_vq(value="forty-one"))),
    "obs_bool_value": (Observation, R4BObservation, _obs(valueQuantity=_vq(value=True))),
    "obs_no_timezone": (Observation, R4BObservation, _obs(effectiveDateTime="2024-03-01T10:00:00")),
    "obs_bad_month": (Observation, R4BObservation, _obs(effectiveDateTime="2024-13")),
    "obs_bad_id": (Observation, R4BObservation, _obs(id="o_1")),
    "obs_code_with_space": (
        Observation,
        R4BObservation,
        _obs(code={"coding": [{"system": "http://loinc.org", "code": " 98979-8"}]}),
    ),
    "obs_reference_not_text": (Observation, R4BObservation, _obs(subject={"reference": 5})),
    "obs_null_in_codings": (Observation, R4BObservation, _obs(code={"coding": [None]})),
    "cond_valid": (Condition, R4BCondition, _cond()),
    "cond_no_subject": (Condition, R4BCondition, _cond(subject=None)),
    "cond_two_onsets": (Condition, R4BCondition, _cond(onsetString="childhood")),
    "cond_period": (Condition, R4BCondition, _cond(onsetDateTime=None, onsetPeriod={"start": "2019-05"})),
    "pat_valid": (Patient, R4BPatient, {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1953"}),
    "pat_full_date": (Patient, R4BPatient, {"resourceType": "Patient", "id": "p1", "birthDate": "1953-02-10"}),
    "pat_bad_date": (Patient, R4BPatient, {"resourceType": "Patient", "id": "p1", "birthDate": "1953-02-30"}),
    "pat_two_deceased": (
        Patient,
        R4BPatient,
        {"resourceType": "Patient", "id": "p1", "deceasedBoolean": False, "deceasedDateTime": "2020"},
    ),
}


def _first_loc(exc: ValidationError) -> tuple[str | int, ...]:
    return tuple(exc.errors()[0]["loc"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_care_fhir_models_agree_with_r4b(case: str) -> None:
    # Prepare
    light, full, data = CASES[case]
    # Execute
    outcomes: list[tuple[str, Any]] = []
    for kind in (light, full):
        try:
            outcomes.append(("ok", kind.model_validate(copy.deepcopy(data))))
        except ValidationError as exc:
            outcomes.append(("refused", _first_loc(exc)))
    (light_says, light_got), (full_says, full_got) = outcomes
    # Assert: same verdict; when refused, the same field; when accepted, the same values read
    assert light_says == full_says, (light_got, full_got)
    if light_says == "refused":
        assert light_got[: len(full_got)] == full_got  # the light model may name the list item as well
        return
    for name in ("status", "effectiveDateTime", "effectiveInstant", "onsetDateTime", "birthDate", "gender", "id"):
        if name in type(light_got).model_fields:
            assert getattr(light_got, name) == getattr(full_got, name), name
    quantity = getattr(light_got, "valueQuantity", None)
    if quantity is not None:
        assert quantity.value == float(full_got.valueQuantity.value)
        assert quantity.comparator == full_got.valueQuantity.comparator


def test_care_fhir_models_read_codings_and_periods_like_r4b() -> None:
    data = _cond(onsetDateTime=None, onsetPeriod={"start": "2019-05-02T09:30:00+09:00"})
    light, full = Condition.model_validate(data), R4BCondition.model_validate(data)
    assert light.onsetPeriod is not None and full.onsetPeriod is not None
    assert light.onsetPeriod.start == full.onsetPeriod.start
    assert [(c.system, c.code) for c in light.code.coding] == [(c.system, c.code) for c in full.code.coding]  # type: ignore[union-attr]


REFUSED_BY_DESIGN: dict[str, Callable[[dict[str, Any]], None]] = {
    # FHIR JSON writes decimals as numbers; R4B also takes a numeric string, the light model does not.
    "decimal_as_text": lambda o: o["valueQuantity"].update(value="41.0"),
}
ACCEPTED_UNREAD: dict[str, Callable[[dict[str, Any]], None]] = {
    # Elements nothing reads are not parsed: a wrong type inside them is refused in strict mode only.
    "note_not_a_list": lambda o: o.update(note="fasting"),
    "interpretation_wrong_type": lambda o: o.update(interpretation={"coding": "H"}),
}


def _prefetch(obs: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "male", "birthDate": "1953"}
    return {"patient": patient, "observations": searchset(obs), "conditions": searchset()}


@pytest.mark.parametrize("case", sorted(ACCEPTED_UNREAD))
def test_care_fhir_unread_element_errors_refused_in_strict_mode(case: str, reference_model: ServedModel) -> None:
    # Prepare
    obs = _obs()
    ACCEPTED_UNREAD[case](obs)
    with pytest.raises(ValidationError):
        R4BObservation.model_validate(obs)
    # Execute
    record = parse_prefetch(reference_model.spec, _prefetch(obs), PATIENT_ID)
    with pytest.raises(MalformedFhirError, match=r"observations.*entry\.0\.resource") as refused:
        parse_prefetch(reference_model.spec, _prefetch(obs), PATIENT_ID, strict=True)
    # Assert
    assert record.observations[0].valueQuantity is not None
    assert "not valid FHIR R4" in str(refused.value)


@pytest.mark.parametrize("case", sorted(REFUSED_BY_DESIGN))
def test_care_fhir_light_models_stricter_by_design(case: str) -> None:
    obs = _obs()
    REFUSED_BY_DESIGN[case](obs)
    assert R4BObservation.model_validate(obs).valueQuantity.value == Decimal("41.0")  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="JSON number"):
        Observation.model_validate(obs)


def test_care_fhir_parse_names_entry_and_field(reference_model: ServedModel) -> None:
    obs = _obs(valueQuantity=_vq(value="forty-one"))
    for strict in (False, True):
        with pytest.raises(MalformedFhirError, match=r"entry\.0\.resource\.valueQuantity\.value"):
            parse_prefetch(reference_model.spec, _prefetch(obs), PATIENT_ID, strict=strict)
