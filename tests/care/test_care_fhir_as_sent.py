"""FHIR R4 as EHRs send it: panel components, UCUM spellings and conversions, statuses, Period, code systems."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from care_helpers import PATIENT_ID, observation, searchset

from dari.care import ServedModel
from dari.care.fhir_inputs import FhirMapper, MappedInputs
from dari.care.fhir_parse import parse_prefetch
from dari.care.fhir_units import unit_factor
from dari.models import FeatureValueError
from dari.models.codes import LabCode
from dari.models.reference_spec import CREATININE

AT = date(2024, 3, 1)
TZ = ZoneInfo("Asia/Seoul")


def _map(model: ServedModel, obs: list[dict[str, Any]], conds: list[dict[str, Any]] | None = None) -> MappedInputs:
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female", "birthDate": "1950-04-02"}
    prefetch = {"patient": patient, "observations": searchset(*obs), "conditions": searchset(*(conds or []))}
    return FhirMapper(model.spec, TZ).map(parse_prefetch(model.spec, prefetch, PATIENT_ID), AT)


def _egfr(**changes: Any) -> dict[str, Any]:
    return observation("o-egfr", "98979-8", 41.0, "mL/min/{1.73_m2}") | changes


def _bp_panel(systolic: float, unit: str, day: str = "2024-02-20", panel: str = "85354-9") -> dict[str, Any]:
    quantity = {"value": systolic, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    return {
        "resourceType": "Observation",
        "id": "o-bp",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": panel}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": day,
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": quantity},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": quantity},
        ],
    }


def _condition(cid: str, system: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "onsetDateTime": "2019-05-02",
        **extra,
    }


def _status(kind: str, code: str) -> dict[str, Any]:
    system = f"http://terminology.hl7.org/CodeSystem/{'condition-clinical' if kind == 'c' else 'condition-ver-status'}"
    return {"coding": [{"system": system, "code": code}]}


@pytest.mark.parametrize("panel", ["85354-9", "55284-4"])
def test_care_bp_panel_component_gives_systolic(reference_model: ServedModel, panel: str) -> None:
    # Execute
    mapped = _map(reference_model, [_egfr(), _bp_panel(152.0, "mm[Hg]", panel=panel)])
    # Assert: the systolic component (not the diastolic one) and not imputed
    assert mapped.raw["sbp"] == 152.0 and "sbp" not in mapped.imputed and "Observation/o-bp" in mapped.basis


def test_care_bp_in_kpa_is_converted(reference_model: ServedModel) -> None:
    mapped = _map(reference_model, [_egfr(), _bp_panel(20.0, "kPa")])
    assert mapped.raw["sbp"] == pytest.approx(150.01, abs=0.01)


@pytest.mark.parametrize("spelling", ["mL/min/1.73m2", "mL/min/{1.73m2}", "ml/min/1.73m2", "mL/min/1.73_m2"])
def test_care_egfr_unit_spellings_are_accepted(reference_model: ServedModel, spelling: str) -> None:
    obs = observation("o-egfr", "98979-8", 41.0, spelling)
    assert _map(reference_model, [obs]).raw["egfr"] == 41.0


def test_care_creatinine_clearance_unit_is_not_egfr(reference_model: ServedModel) -> None:
    with pytest.raises(FeatureValueError, match="mL/min"):
        _map(reference_model, [observation("o-egfr", "98979-8", 41.0, "mL/min")])


def test_care_creatinine_molar_converts_by_its_molar_mass() -> None:
    creatinine = LabCode(loinc="2160-0", also_loinc=("14682-9",), unit="mg/dL")
    # 1 µmol/L = 1e-6 mol/L × 113.12 g/mol = 1.1312e-4 g/L = 0.011312 mg/dL (1 mg/dL = 88.40 µmol/L)
    assert unit_factor(creatinine, "umol/L") == pytest.approx(113.12 / 10000, rel=1e-12)
    assert unit_factor(CREATININE, "umol/L") == pytest.approx(1 / 88.42)  # the spec's declared factor wins
    assert unit_factor(creatinine, "µmol/L") == unit_factor(creatinine, "umol/L")
    assert unit_factor(LabCode(loinc="4548-4", unit="%"), "mmol/mol") is None  # HbA1c IFCC is not linear


def test_care_preliminary_and_entered_in_error_are_not_used(reference_model: ServedModel) -> None:
    # Prepare: the latest eGFR is preliminary, a later one entered in error; a final one a week earlier
    final = _egfr(id="o-final", effectiveDateTime="2024-02-23")
    prelim = _egfr(id="o-prelim", status="preliminary", valueQuantity=_egfr()["valueQuantity"] | {"value": 25.0})
    erred = _egfr(id="o-err", status="entered-in-error")
    # Execute
    mapped = _map(reference_model, [prelim, erred, final])
    # Assert
    assert mapped.raw["egfr"] == 41.0 and "Observation/o-final" in mapped.basis
    assert any("o-prelim" in n and "preliminary" in n for n in mapped.notes)
    assert all("25" not in n for n in mapped.notes)  # notes name resources, never values


def test_care_effective_period_and_loinc_oid(reference_model: ServedModel) -> None:
    obs = _egfr(effectivePeriod={"start": "2024-02-10T08:00:00+09:00", "end": "2024-02-10T09:00:00+09:00"})
    del obs["effectiveDateTime"]
    obs["code"] = {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.1", "code": "98979-8"}]}
    assert _map(reference_model, [obs]).raw["egfr"] == 41.0


def test_care_unknown_code_system_is_noted_not_raised(reference_model: ServedModel) -> None:
    local = _egfr(id="o-local", code={"coding": [{"system": "http://hospital.example/lab", "code": "EGFR"}]})
    mapped = _map(reference_model, [local, _egfr()])
    assert any("o-local" in n and "http://hospital.example/lab" in n for n in mapped.notes)
    assert mapped.raw["egfr"] == 41.0 and mapped.row is not None


def test_care_conditions_by_status_and_system(reference_model: ServedModel) -> None:
    # Prepare: diabetes coded in ICD-10 (WHO), heart failure resolved; then provisional and refuted diabetes
    icd = _condition("c-icd", "http://hl7.org/fhir/sid/icd-10", "E11.9", clinicalStatus=_status("c", "active"))
    hf = _condition("c-hf", "http://snomed.info/sct", "84114007", clinicalStatus=_status("c", "resolved"))
    provisional = _condition(
        "c-p", "http://snomed.info/sct", "73211009", verificationStatus=_status("v", "provisional")
    )
    refuted = _condition("c-r", "http://snomed.info/sct", "73211009", verificationStatus=_status("v", "refuted"))
    # Execute
    first = _map(reference_model, [_egfr()], [icd, hf])
    second = _map(reference_model, [_egfr()], [provisional, refuted])
    # Assert
    assert first.raw["diabetes"] is True and first.raw["heart_failure"] is False
    assert second.raw["diabetes"] is False and len(second.notes) == 2


def test_care_remission_after_the_evaluation_date_still_counts(reference_model: ServedModel) -> None:
    hf = _condition(
        "c-hf",
        "http://snomed.info/sct",
        "84114007",
        clinicalStatus=_status("c", "remission"),
        abatementDateTime="2024-06-01",
    )
    assert _map(reference_model, [_egfr()], [hf]).raw["heart_failure"] is True


def test_care_child_is_outside_population_not_an_error(reference_model: ServedModel) -> None:
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "male", "birthDate": "2008-01-15"}
    prefetch = {"patient": patient, "observations": searchset(_egfr()), "conditions": searchset()}
    mapped = FhirMapper(reference_model.spec, TZ).map(parse_prefetch(reference_model.spec, prefetch, PATIENT_ID), AT)
    assert mapped.row is None and mapped.reason == "outside_population"


def test_care_condition_abated_without_date_and_no_status_is_not_counted(reference_model: ServedModel) -> None:
    hf = _condition("c-hf", "http://snomed.info/sct", "84114007", abatementString="around April 2021")
    mapped = _map(reference_model, [_egfr()], [hf])
    assert mapped.raw["heart_failure"] is False and any("c-hf" in n for n in mapped.notes)


def test_care_included_patient_in_observation_searchset_is_skipped(reference_model: ServedModel) -> None:
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female", "birthDate": "1950-04-02"}
    bundle = searchset(_egfr())
    bundle["entry"].append({"resource": patient, "search": {"mode": "include"}})
    prefetch = {"patient": patient, "observations": bundle, "conditions": searchset()}
    mapped = FhirMapper(reference_model.spec, TZ).map(parse_prefetch(reference_model.spec, prefetch, PATIENT_ID), AT)
    assert mapped.raw["egfr"] == 41.0


def test_care_site_vocabulary_codes_extend_a_condition(reference_model: ServedModel) -> None:
    # Prepare: a SNOMED code the shipped hierarchy lacks, given as the site's descendant of heart failure
    hf = _condition("c-hf", "http://snomed.info/sct", "10633002")
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female", "birthDate": "1950-04-02"}
    prefetch = {"patient": patient, "observations": searchset(_egfr()), "conditions": searchset(hf)}
    record = parse_prefetch(reference_model.spec, prefetch, PATIENT_ID)
    # Execute
    plain = FhirMapper(reference_model.spec, TZ).map(record, AT)
    sited = FhirMapper(reference_model.spec, TZ, {"heart_failure": ["10633002"]}).map(record, AT)
    # Assert
    assert plain.raw["heart_failure"] is False and sited.raw["heart_failure"] is True
