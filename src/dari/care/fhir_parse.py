"""Prefetch templates derived from a feature spec, and the prefetched FHIR R4 resources parsed and checked.

The templates ask the EHR for exactly what the spec needs (Patient; Observations of the spec's LOINC codes and of
the LOINC panels whose components carry them, since a search on `code` does not look inside components;
Conditions only when a feature is a condition). Parsing uses the light models of `dari.care.fhir_models` (every
element the mapping reads checked by R4's rules, every other key an element R4 defines there); with `strict`,
each resource is also validated whole by `fhir.resources.R4B`. R4B does not check coded values, so status codes
and the subject of every resource are checked here: a resource about another patient is refused, never scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from dari.care.fhir_models import RESOURCE_TYPES, Bundle, Condition, Observation, Patient, Reference
from dari.care.fhir_units import panels_carrying
from dari.errors import InputError
from dari.models.feature_spec import ConditionSource, FeatureSpec, MeasurementSource

LOINC_SYSTEM = "http://loinc.org"
PATIENT_KEY = "patient"
OBSERVATIONS_KEY = "observations"
CONDITIONS_KEY = "conditions"
OBSERVATION_STATUSES = frozenset(
    {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
)
GENDERS = frozenset({"male", "female", "other", "unknown"})


class MalformedFhirError(InputError):
    """A prefetched resource that is not valid FHIR R4 or not about the context patient (HTTP 400)."""


class MissingPrefetchError(InputError):
    """A prefetch key the service needs is absent (HTTP 412: the EHR must send it)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        super().__init__(f"prefetch lacks {', '.join(keys)}; the service does not query the FHIR server itself")


@dataclass(frozen=True)
class PatientRecord:
    """The context patient's prefetched resources, parsed and checked."""

    patient: Patient
    observations: tuple[Observation, ...]
    conditions: tuple[Condition, ...]


def observation_codes(spec: FeatureSpec) -> tuple[str, ...]:
    """Every LOINC code a measurement feature (or the cohort's index) accepts, in spec order, once each."""
    codes: list[str] = list(spec.cohort.index.codes)
    for f in spec.features:
        if isinstance(f.source, MeasurementSource):
            codes.extend(f.source.codes)
    return tuple(dict.fromkeys(codes))


def prefetch_templates(spec: FeatureSpec) -> dict[str, str]:
    """CDS Hooks prefetch templates for the resources the spec needs, and nothing more."""
    templates = {PATIENT_KEY: "Patient/{{context.patientId}}"}
    wanted = observation_codes(spec)
    codes = ",".join(f"{LOINC_SYSTEM}|{c}" for c in dict.fromkeys((*wanted, *panels_carrying(wanted))))
    templates[OBSERVATIONS_KEY] = f"Observation?patient={{{{context.patientId}}}}&code={codes}&_sort=-date"
    if any(isinstance(f.source, ConditionSource) for f in spec.features):
        templates[CONDITIONS_KEY] = "Condition?patient={{context.patientId}}"
    return templates


def _where(kind: str, exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in (*prefix, *first["loc"]))
    return f"{kind} is not valid FHIR R4: field {loc or '(root)'}: {first['msg']}"


def _validate_r4b(kind: str, data: dict[str, Any], key: str) -> None:
    """The full fhir.resources R4B validation of one prefetch value (strict mode): refuses what R4B refuses."""
    try:
        get_fhir_model_class(str(data["resourceType"])).model_validate(data)
    except ValidationError as exc:
        raise MalformedFhirError(_where(kind, exc), column=key) from None


def _refers_to(ref: Reference | None, patient_id: str) -> bool:
    text = ref.reference if ref is not None else None
    return isinstance(text, str) and (text == f"Patient/{patient_id}" or text.endswith(f"/Patient/{patient_id}"))


def _parse_patient(data: Any, patient_id: str, strict: bool) -> Patient:
    if not isinstance(data, dict) or data.get("resourceType") != "Patient":
        raise MalformedFhirError(f"prefetch {PATIENT_KEY!r} must be a Patient resource", column=PATIENT_KEY)
    if strict:
        _validate_r4b("Patient", data, PATIENT_KEY)
    try:
        patient = Patient.model_validate(data)
    except ValidationError as exc:
        raise MalformedFhirError(_where("Patient", exc), column=PATIENT_KEY) from None
    if patient.id != patient_id:
        raise MalformedFhirError(
            f"Patient.id is {patient.id!r}, not the context patientId {patient_id!r}", column="Patient.id"
        )
    if patient.gender is not None and patient.gender not in GENDERS:
        raise MalformedFhirError(f"Patient.gender {patient.gender!r} is not an R4 AdministrativeGender code")
    return patient


def _bundle_resources(data: Any, key: str, kind: str, strict: bool) -> list[Any]:
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise MalformedFhirError(f"prefetch {key!r} must be a Bundle (searchset) of {kind}", column=key)
    if strict:
        _validate_r4b(f"Bundle {key!r}", data, key)
    try:
        bundle = Bundle.model_validate(data)
    except ValidationError as exc:
        raise MalformedFhirError(_where(f"Bundle {key!r}", exc), column=key) from None
    if bundle.type != "searchset":
        raise MalformedFhirError(f"Bundle {key!r} has type {bundle.type!r}; a searchset is expected", column=key)
    model = RESOURCE_TYPES[kind]
    found: list[Any] = []
    for i, entry in enumerate(bundle.entry or []):
        resource = entry.resource
        if resource is None or (entry.search is not None and entry.search.mode == "outcome"):
            continue  # an OperationOutcome about the search itself, or an empty entry
        got = resource.get("resourceType")
        if got != kind and entry.search is not None and entry.search.mode == "include":
            continue  # a resource the server added by `_include` (the Patient of an Observation search)
        if got != kind:
            raise MalformedFhirError(f"Bundle {key!r} entry[{i}] is a {got}, expected {kind}", column=key)
        try:
            found.append(model.model_validate(resource))
        except ValidationError as exc:
            raise MalformedFhirError(_where(f"Bundle {key!r}", exc, ("entry", i, "resource")), column=key) from None
    return found


def _check_observation(obs: Observation, patient_id: str) -> None:
    name = f"Observation/{obs.id or '?'}"
    if obs.status not in OBSERVATION_STATUSES:
        raise MalformedFhirError(f"{name}.status {obs.status!r} is not an R4 ObservationStatus code")
    if not _refers_to(obs.subject, patient_id):
        raise MalformedFhirError(f"{name}.subject does not refer to the context patient Patient/{patient_id}")


def _check_condition(cond: Condition, patient_id: str) -> None:
    if not _refers_to(cond.subject, patient_id):
        raise MalformedFhirError(
            f"Condition/{cond.id or '?'}.subject does not refer to the context patient Patient/{patient_id}"
        )


def parse_prefetch(
    spec: FeatureSpec, prefetch: Mapping[str, Any] | None, patient_id: str, *, strict: bool = False
) -> PatientRecord:
    """Parse the prefetched resources the spec needs; refuse missing keys, invalid FHIR and other patients' data.

    `strict` also validates each prefetch value whole with fhir.resources R4B (elements nothing reads included)."""
    given = prefetch or {}
    templates = prefetch_templates(spec)
    absent = [k for k in templates if given.get(k) is None]
    if absent:
        raise MissingPrefetchError(absent)
    patient = _parse_patient(given[PATIENT_KEY], patient_id, strict)
    observations: list[Observation] = _bundle_resources(
        given[OBSERVATIONS_KEY], OBSERVATIONS_KEY, "Observation", strict
    )
    for obs in observations:
        _check_observation(obs, patient_id)
    conditions: list[Condition] = []
    if CONDITIONS_KEY in templates:
        conditions = _bundle_resources(given[CONDITIONS_KEY], CONDITIONS_KEY, "Condition", strict)
        for cond in conditions:
            _check_condition(cond, patient_id)
    return PatientRecord(patient, tuple(observations), tuple(conditions))
