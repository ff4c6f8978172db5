"""FHIR R4 resources → the feature spec's raw values → the model row, by the rules the CDM path uses.

Observations (`dari.care.fhir_observations`): codings of any system dari reads, panel components, status
final/amended/corrected, `effective[x]` as dateTime, instant or Period, UCUM units converted by the spec's
factors and the shipped table; the latest in [at − lookback_days, at]. Conditions (`dari.care.fhir_conditions`):
SNOMED descendants, KCD and ICD-10 prefixes, clinical and verification status, onset and abatement. Patient:
birthDate (YYYY, YYYY-MM or a full date, by `age_years`'s rule) and gender. Then `assemble_inputs`, the function
the CDM path uses.

A patient the model is not for gets no card and a reason, never an HTTP error: outside the cohort (under the
model's minimum age, an index measurement outside its range) or a required input absent (no eGFR in its window,
no birth date, gender other than male/female). Notes say which resources were not used and why (status,
verification, unread code systems), naming resources, never values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from dari.care.fhir_conditions import ConditionMatcher, unread_condition_notes
from dari.care.fhir_observations import measure, unread_systems
from dari.care.fhir_parse import PatientRecord
from dari.care.fhir_units import system_name
from dari.models.feature_spec import (
    ConditionSource,
    DemographicSource,
    Feature,
    FeatureSpec,
    MeasurementSource,
    RequiredPolicy,
)
from dari.models.inputs import RawValue, age_years, assemble_inputs

UCUM_SYSTEM = "http://unitsofmeasure.org"
SNOMED_SYSTEM = "http://snomed.info/sct"
# HL7 Korea's KR Core names KCD-8 (and the earlier KCD-7) by these code system URLs.
KCD_SYSTEMS = ("http://www.hl7korea.or.kr/CodeSystem/kcd-8", "http://www.hl7korea.or.kr/CodeSystem/kcd-7")
NotScored = Literal["outside_population", "missing_data"]


@dataclass(frozen=True)
class MappedInputs:
    """One patient's raw values (spec units), model row, the resources used and the inputs imputed.

    `row` is None when the patient is not scored; then `not_applicable` says why in words, `reason` as a code and
    `missing` what the EHR would have to send."""

    at: date
    raw: dict[str, RawValue]
    row: np.ndarray | None
    basis: tuple[str, ...]  # "Observation/…", "Condition/…", "Patient/…"
    imputed: tuple[str, ...]
    not_applicable: str | None  # why the patient gets no card, else None
    reason: NotScored | None = None
    missing: tuple[dict[str, str], ...] = ()
    notes: tuple[str, ...] = ()  # resources not used and why (never a value)


def _birth_parts(value: Any) -> tuple[int, int | None, int | None] | None:
    if isinstance(value, date):
        return value.year, value.month, value.day
    if isinstance(value, str):
        parts = value.split("-")
        if 1 <= len(parts) <= 2 and all(p.isdigit() for p in parts):
            return int(parts[0]), (int(parts[1]) if len(parts) == 2 else None), None
    return None


class FhirMapper:
    """Maps one spec's inputs from FHIR; SNOMED descendant sets are computed once per spec."""

    def __init__(self, spec: FeatureSpec, tz: ZoneInfo, site_snomed: Mapping[str, Iterable[str]] | None = None) -> None:
        """`site_snomed`: condition feature name → SNOMED CT codes the site's vocabulary puts under the spec's
        (loaded from the site CDM at start), so FHIR and CDM agree on real codes; the shipped hierarchy otherwise."""
        self.spec = spec
        self.tz = tz
        extra = site_snomed or {}
        self._conditions = {
            f.name: ConditionMatcher(f, extra.get(f.name, ()))
            for f in spec.features
            if isinstance(f.source, ConditionSource)
        }

    def map(self, record: PatientRecord, at: date) -> MappedInputs:
        """Raw values and the model row at `at`, or no row and the reason; raises FeatureValueError (422) for a
        value the model must not take."""
        raw: dict[str, RawValue] = {}
        basis: list[str] = []
        notes: list[str] = _unread_notes(record)
        for f in self.spec.features:
            src = f.source
            ref: str | None
            if isinstance(src, MeasurementSource):
                measured = measure(f, record.observations, at, self.tz)
                raw[f.name], ref = measured.value, measured.source
                notes.extend(measured.notes)
            elif isinstance(src, ConditionSource):
                found = self._conditions[f.name].find(record.conditions, at, self.tz)
                raw[f.name], ref = found.present, found.source
                notes.extend(found.notes)
            else:
                raw[f.name], ref = self._demographic(src, record, at)
            if ref is not None:
                basis.append(ref)
        kept = tuple(dict.fromkeys(notes))
        used = tuple(dict.fromkeys(basis))
        outside = self._outside_cohort(raw)
        if outside is not None:
            return MappedInputs(at, raw, None, used, (), outside, "outside_population", (), kept)
        missing = tuple(_needed(f, at) for f in self.spec.features if raw[f.name] is None and _required(f))
        if missing:
            why = f"required data missing for {', '.join(m['feature'] for m in missing)}; the patient is not scored"
            return MappedInputs(at, raw, None, used, (), why, "missing_data", missing, kept)
        row = assemble_inputs(self.spec, raw)
        imputed = tuple(f.name for f in self.spec.features if raw[f.name] is None)
        return MappedInputs(at, raw, row, used, imputed, None, None, (), kept)

    def _demographic(self, src: DemographicSource, record: PatientRecord, at: date) -> tuple[RawValue, str | None]:
        patient = record.patient
        ref = f"Patient/{patient.id}"
        if src.field == "male":
            sex = {"male": True, "female": False}.get(patient.gender or "")
            return sex, ref if sex is not None else None
        parts = _birth_parts(patient.birthDate)
        return (age_years(*parts, at), ref) if parts else (None, None)

    def _outside_cohort(self, raw: dict[str, RawValue]) -> str | None:
        """Why a patient with physiologically valid values is not in the model's target population."""
        cohort = self.spec.cohort
        for f in self.spec.features:
            value = raw[f.name]
            if not isinstance(value, float) or f.valid_range is None:
                continue
            is_age = isinstance(f.source, DemographicSource) and f.source.field == "age_years"
            if is_age and 0 <= value < cohort.min_age_years:
                # a child is outside the population even where the spec's valid_range starts at the minimum age
                return f"age under the model's minimum of {cohort.min_age_years:g} years"
            if not f.valid_range.low <= value <= f.valid_range.high:
                continue  # an impossible value is refused by assemble_inputs (422), not waved through
            in_index = isinstance(f.source, MeasurementSource) and f.source.codes == cohort.index.codes
            if in_index and not cohort.first_value_low <= value < cohort.first_value_high:
                return (
                    f"{f.label_en} {value:g} {f.unit} lies outside the model's population "
                    f"[{cohort.first_value_low:g}, {cohort.first_value_high:g})"
                )
        return None


def _unread_notes(record: PatientRecord) -> list[str]:
    """Resources with no coding in a system dari reads: not used, and said so."""
    notes = []
    for i, obs in enumerate(record.observations):
        codings = obs.code.coding
        if codings and all(system_name(c.system) is None for c in codings) and not obs.component:
            systems = ", ".join(unread_systems(codings))
            notes.append(f"Observation/{obs.id or i}: no coding in a system dari reads ({systems}); not used")
    return [*notes, *unread_condition_notes(record.conditions)]


def _required(f: Feature) -> bool:
    return isinstance(f.missing, RequiredPolicy)


def _needed(f: Feature, at: date) -> dict[str, str]:
    """What the EHR would have to send for a missing required input."""
    src = f.source
    if isinstance(src, MeasurementSource):
        start = at - timedelta(days=src.lookback_days)
        need = f"Observation LOINC {' or '.join(src.codes)} in {src.unit}, status final, dated {start} to {at}"
    elif isinstance(src, ConditionSource):
        need = "Condition"
    else:
        need = "Patient.birthDate" if src.field == "age_years" else "Patient.gender (male or female)"
    return {"feature": f.name, "label_en": f.label_en, "label_ko": f.label_ko, "needed": need}
