"""FHIR R4 resources → the feature spec's raw values → the model row, by the rules the CDM path uses.

Observation: a `code` in the feature's LOINC codes, status final/amended/corrected, a UCUM `valueQuantity`
converted only by the spec's declared factors; the latest one whose date lies in [at − lookback, at] (dates in
the service's time zone). "Latest" is decided by date *and time*, never by bundle order: when two observations
could be the latest (the same instant, or a date without a time on the day of another) and their values differ,
the request is refused as ambiguous (`dari.care.fhir_time`: `AmbiguousDataError`, HTTP 412, naming the feature
and the resources). An
observation in the window in an undeclared unit refuses the request rather than being skipped: never score
silently on other data. Condition: a SNOMED CT code among the spec's codes and their
descendants (dari's shipped hierarchy, which is what the CDM path falls back to) or a KCD code starting with a
listed prefix, with onset on or before `at`. Patient: birthDate (YYYY, YYYY-MM or a full date, by `age_years`'s
rule) and gender. Then `assemble_inputs`, the function the CDM path uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from dari.care.fhir_models import Observation
from dari.care.fhir_parse import LOINC_SYSTEM, PatientRecord
from dari.care.fhir_time import Candidate, instant_span, latest_value, local_days
from dari.errors import InputError
from dari.models.feature_spec import (
    ConditionSource,
    DemographicSource,
    Feature,
    FeatureSpec,
    MeasurementSource,
    RequiredPolicy,
)
from dari.models.inputs import FeatureValueError, RawValue, age_years, assemble_inputs, convert_to_spec_unit
from dari.vocab import normalise_kcd_code, shipped_vocabulary

UCUM_SYSTEM = "http://unitsofmeasure.org"
SNOMED_SYSTEM = "http://snomed.info/sct"
# HL7 Korea's KR Core names KCD-8 (and the earlier KCD-7) by these code system URLs.
KCD_SYSTEMS = ("http://www.hl7korea.or.kr/CodeSystem/kcd-8", "http://www.hl7korea.or.kr/CodeSystem/kcd-7")
USABLE_OBSERVATION_STATUSES = frozenset({"final", "amended", "corrected"})
DISCARDED_CONDITION_VERIFICATION = frozenset({"refuted", "entered-in-error"})


class MissingDataError(InputError):
    """Required inputs are absent from the prefetched data (HTTP 412); `missing` says what is needed."""

    def __init__(self, missing: list[dict[str, str]]) -> None:
        self.missing = missing
        names = ", ".join(m["feature"] for m in missing)
        super().__init__(f"required data missing for {names}; the patient is not scored")


@dataclass(frozen=True)
class MappedInputs:
    """One patient's raw values (spec units), model row, the resources used and the inputs imputed."""

    at: date
    raw: dict[str, RawValue]
    row: np.ndarray
    basis: tuple[str, ...]  # "Observation/…", "Condition/…", "Patient/…"
    imputed: tuple[str, ...]
    not_applicable: str | None  # why the patient lies outside the model's cohort (no card), else None


def _birth_parts(value: Any) -> tuple[int, int | None, int | None] | None:
    if isinstance(value, date):
        return value.year, value.month, value.day
    if isinstance(value, str):
        parts = value.split("-")
        if 1 <= len(parts) <= 2 and all(p.isdigit() for p in parts):
            return int(parts[0]), (int(parts[1]) if len(parts) == 2 else None), None
    return None


def _has_code(codings: Any, system: str | tuple[str, ...], accepted: Any) -> bool:
    systems = (system,) if isinstance(system, str) else system
    return any(c.system in systems and c.code in accepted for c in codings or [])


class FhirMapper:
    """Maps one spec's inputs from FHIR; SNOMED descendant sets are computed once per spec."""

    def __init__(self, spec: FeatureSpec, tz: ZoneInfo) -> None:
        self.spec = spec
        self.tz = tz
        vocab = shipped_vocabulary()
        self._snomed: dict[str, frozenset[str]] = {}
        for f in spec.features:
            if isinstance(f.source, ConditionSource):
                codes = set(f.source.snomed)
                for code in f.source.snomed:
                    concept = vocab.find_code("SNOMED", code)
                    if concept is not None:
                        codes |= {c.concept_code for c in vocab.descendants(concept.concept_id, include_self=True)}
                self._snomed[f.name] = frozenset(codes)

    def _measurement(
        self, f: Feature, src: MeasurementSource, record: PatientRecord, at: date
    ) -> tuple[float | None, str | None]:
        low = at - timedelta(days=src.lookback_days)
        found: list[Candidate] = []
        for i, obs in enumerate(record.observations):
            if obs.status not in USABLE_OBSERVATION_STATUSES or not _has_code(obs.code.coding, LOINC_SYSTEM, src.codes):
                continue
            name = f"Observation/{obs.id or i}"
            when = local_days(obs.effectiveDateTime or obs.effectiveInstant or _period_end(obs), self.tz)
            if when is None:
                raise FeatureValueError(f, "date", f"{name} has no effective date; its place in time is unknown")
            if when[1] < low or when[0] > at:
                continue
            if when[0] != when[1]:
                raise FeatureValueError(f, "date", f"{name} effective date is too imprecise to place in the window")
            value = _quantity(f, obs, name)
            if value is None:
                continue
            start, end = instant_span(obs.effectiveDateTime or obs.effectiveInstant or _period_end(obs), self.tz)
            found.append((start, end, value, name))
        return latest_value(f, found)

    def _condition(self, f: Feature, src: ConditionSource, record: PatientRecord, at: date) -> tuple[bool, str | None]:
        for i, cond in enumerate(record.conditions):
            name = f"Condition/{cond.id or i}"
            status = cond.verificationStatus.coding if cond.verificationStatus else None
            if _has_code(
                status, "http://terminology.hl7.org/CodeSystem/condition-ver-status", DISCARDED_CONDITION_VERIFICATION
            ):
                continue
            codings = cond.code.coding if cond.code else None
            kcd = [normalise_kcd_code(c.code) for c in codings or [] if c.system in KCD_SYSTEMS and c.code]
            if not _has_code(codings, SNOMED_SYSTEM, self._snomed[f.name]) and not any(
                k.startswith(src.kcd) for k in kcd
            ):
                continue
            onset = cond.onsetDateTime or (cond.onsetPeriod.start if cond.onsetPeriod else None) or cond.recordedDate
            when = local_days(onset, self.tz) if onset is not None else None
            if when is not None and when[0] > at:
                continue
            if when is not None and when[1] > at:
                raise FeatureValueError(f, "date", f"{name} onset is too imprecise to tell whether it precedes {at}")
            return True, name
        return False, None

    def map(self, record: PatientRecord, at: date) -> MappedInputs:
        """Raw values and the model row at `at`; raises MissingDataError (412) or FeatureValueError (422)."""
        raw: dict[str, RawValue] = {}
        basis: list[str] = []
        for f in self.spec.features:
            src = f.source
            if isinstance(src, MeasurementSource):
                raw[f.name], ref = self._measurement(f, src, record, at)
            elif isinstance(src, ConditionSource):
                raw[f.name], ref = self._condition(f, src, record, at)
            else:
                raw[f.name], ref = self._demographic(src, record, at)
            if ref is not None:
                basis.append(ref)
        missing = [_needed(f, at) for f in self.spec.features if raw[f.name] is None and _required(f)]
        if missing:
            raise MissingDataError(missing)
        reason = self._outside_cohort(raw)
        row = assemble_inputs(self.spec, raw)
        imputed = tuple(f.name for f in self.spec.features if raw[f.name] is None)
        return MappedInputs(at, raw, row, tuple(dict.fromkeys(basis)), imputed, reason)

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
            if not f.valid_range.low <= value <= f.valid_range.high:
                continue  # an impossible value is refused by assemble_inputs (422), not waved through
            if (
                isinstance(f.source, DemographicSource)
                and f.source.field == "age_years"
                and value < cohort.min_age_years
            ):
                return f"age {value:.1f} is below the model's minimum {cohort.min_age_years:g}"
            in_index = isinstance(f.source, MeasurementSource) and f.source.codes == cohort.index.codes
            if in_index and not cohort.first_value_low <= value < cohort.first_value_high:
                return (
                    f"{f.label_en} {value:g} {f.unit} lies outside the model's population "
                    f"[{cohort.first_value_low:g}, {cohort.first_value_high:g})"
                )
        return None


def _period_end(obs: Observation) -> Any:
    return obs.effectivePeriod.end or obs.effectivePeriod.start if obs.effectivePeriod else None


def _quantity(f: Feature, obs: Observation, name: str) -> float | None:
    """The observation's value in the spec's unit; None when it carries no value (dataAbsentReason)."""
    src = f.source
    assert isinstance(src, MeasurementSource)
    q = obs.valueQuantity
    if q is None:
        other = obs.other_value()
        if other is not None:
            raise FeatureValueError(
                f, "type", f"{name} carries {other}, not a valueQuantity; a UCUM quantity is expected"
            )
        return None
    if q.value is None:
        return None
    if q.comparator is not None:
        raise FeatureValueError(f, "type", f"{name} value is censored ({q.comparator}{q.value}); not scored")
    if q.system != UCUM_SYSTEM or not q.code:
        raise FeatureValueError(
            f,
            "unit",
            f"{name} valueQuantity must carry a UCUM code (system {UCUM_SYSTEM}), got {q.system!r}/{q.code!r}",
        )
    try:
        return convert_to_spec_unit(src, float(q.value), q.code, feature=f)
    except FeatureValueError as exc:
        raise FeatureValueError(f, "unit", f"{name}: {str(exc).split(': ', 1)[-1]}") from None


def _required(f: Feature) -> bool:
    return isinstance(f.missing, RequiredPolicy)


def _needed(f: Feature, at: date) -> dict[str, str]:
    """What the EHR would have to send for a missing required input."""
    src = f.source
    if isinstance(src, MeasurementSource):
        start = at - timedelta(days=src.lookback_days)
        need = f"Observation LOINC {' or '.join(src.codes)} in {src.unit}, dated {start} to {at}"
    elif isinstance(src, ConditionSource):
        need = "Condition"
    else:
        need = "Patient.birthDate" if src.field == "age_years" else "Patient.gender (male or female)"
    return {"feature": f.name, "label_en": f.label_en, "label_ko": f.label_ko, "needed": need}
