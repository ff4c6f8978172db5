"""A drift replay for demos and tests: a site's patients through the CDS service, first as they are, then shifted.

The test EHR (`dari.care.ehr_client`) sends each patient's FHIR, built from the site's synthetic CDM, evaluated at
the patient's index date (the date of the first kidney-function result that puts them in the model's population).
First `patients` members of the spec's cohort as they are, then `patients` others (different people while the
cohort is large enough) from a shifted population. The shift is made in the FHIR the EHR sends, so the service sees
it exactly as it would see a changed population:

* older: `Patient.birthDate` moved `older_years` earlier (10 by default), whatever its precision;
* worse kidney function: every eGFR value above 30 moved halfway towards 30 (e → 30 + 0.5·(e − 30)), so a patient
  stays in the reference model's population (first eGFR 30–60) but sits nearer stage 4; creatinine values, where the
  prefetch carries them (the reference model's does not: eGFR already carries creatinine), are raised by half.

Scores rise with age and falling eGFR, so the score drifts too; the outcomes linked later are the patients' real
ones, so the shifted window also shows the model over-predicting (an O/E alert) once outcomes are in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import numpy as np

from dari.care.ehr_client import ReplayResult, call_hook, cdm_prefetch, discover_service, hook_request
from dari.care.fhir_parse import OBSERVATIONS_KEY, PATIENT_KEY
from dari.cdm.store import CdmStore
from dari.errors import InputError
from dari.models import FeatureSpec, extract_cohort_features
from dari.models.reference_spec import CREATININE_MASS_LOINC, CREATININE_MOLAR_LOINC, EGFR_LOINC


@dataclass(frozen=True)
class PopulationShift:
    """How the shifted population differs from the site's, applied to the FHIR prefetch."""

    older_years: int = 10
    egfr_codes: tuple[str, ...] = (EGFR_LOINC,)
    egfr_floor: float = 30.0
    egfr_keep: float = 0.5  # share of the distance above the floor that is kept
    creatinine_codes: tuple[str, ...] = (CREATININE_MASS_LOINC, CREATININE_MOLAR_LOINC)
    creatinine_factor: float = 1.5

    def apply(self, prefetch: dict[str, Any]) -> dict[str, Any]:
        """Shift one patient's prefetch in place (it is built afresh for each call) and return it."""
        patient = prefetch.get(PATIENT_KEY) or {}
        if isinstance(patient.get("birthDate"), str):
            patient["birthDate"] = _earlier(patient["birthDate"], self.older_years)
        for entry in (prefetch.get(OBSERVATIONS_KEY) or {}).get("entry", []):
            obs = entry.get("resource", {})
            codes = {c.get("code") for c in obs.get("code", {}).get("coding", [])}
            quantity = obs.get("valueQuantity") or {}
            value = quantity.get("value")
            if not isinstance(value, int | float):
                continue
            if codes & set(self.egfr_codes) and value > self.egfr_floor:
                quantity["value"] = round(self.egfr_floor + self.egfr_keep * (value - self.egfr_floor), 1)
            elif codes & set(self.creatinine_codes):
                quantity["value"] = round(value * self.creatinine_factor, 2)
        return prefetch


def _earlier(birth_date: str, years: int) -> str:
    """A FHIR date (YYYY, YYYY-MM or YYYY-MM-DD) `years` earlier, 29 February becoming the 28th."""
    parts = birth_date.split("-")
    if not parts[0].isdigit():
        raise InputError(f"Patient.birthDate {birth_date!r} is not a FHIR date")
    parts[0] = f"{int(parts[0]) - years:04d}"
    if len(parts) == 3 and parts[1:] == ["02", "29"]:
        parts[2] = "28"
    return "-".join(parts)


def _renamed(prefetch: dict[str, Any], fhir_id: str) -> dict[str, Any]:
    """The prefetch, in place, with the patient's id replaced by the EHR's own (Patient.id and subject references)."""
    prefetch[PATIENT_KEY]["id"] = fhir_id
    for key, bundle in prefetch.items():
        if key == PATIENT_KEY or not isinstance(bundle, dict):
            continue
        for entry in bundle.get("entry", []):
            subject = entry.get("resource", {}).get("subject")
            if isinstance(subject, dict):
                subject["reference"] = f"Patient/{fhir_id}"
    return prefetch


@dataclass(frozen=True)
class DriftReplay:
    """The calls made: first the site's population as it is, then the shifted one."""

    unshifted: list[ReplayResult]
    shifted: list[ReplayResult]


def replay_cohort(store: CdmStore, spec: FeatureSpec) -> list[tuple[int, date]]:
    """(person_id, index date) of the spec's scorable cohort members in any period (the CDS path has none)."""
    cohort = spec.cohort.model_copy(update={"index_start": None, "index_end": None})
    frame = extract_cohort_features(store, spec.model_copy(update={"cohort": cohort}))
    keep = frame.inputs(spec).scorable
    return [(int(p), d.astype(object)) for p, d in zip(frame.person_id[keep], frame.index_date[keep], strict=True)]


def replay_drift(
    client: httpx.Client,
    service_url: str,
    store: CdmStore,
    spec: FeatureSpec,
    *,
    patients: int,
    key_pem: bytes,
    iss: str,
    kid: str,
    alg: str = "ES384",
    hook: str = "patient-view",
    shift: PopulationShift | None = None,
    seed: int = 0,
    patient_ids: Callable[[int], str] | None = None,
) -> DriftReplay:
    """Replay `patients` cohort members unshifted, then `patients` others shifted (the service must allow `asOf`).

    `patient_ids` gives the EHR's id of a CDM person (default: the person_id), as FHIR Patient.id and references.
    """
    if patients < 1:
        raise InputError(f"patients must be at least 1, got {patients}")
    members = replay_cohort(store, spec)
    if not members:
        raise InputError("the site's CDM has no member of the model's cohort to replay")
    order = np.random.default_rng(seed).permutation(len(members))
    endpoint, templates = discover_service(client, service_url, hook)
    change = shift or PopulationShift()
    streams: tuple[list[ReplayResult], list[ReplayResult]] = ([], [])
    for i in range(2 * patients):
        person_id, as_of = members[order[i % len(members)]]
        prefetch = cdm_prefetch(store, person_id, templates)
        if i >= patients:
            prefetch = change.apply(prefetch)
        fhir_id = patient_ids(person_id) if patient_ids is not None else str(person_id)
        if fhir_id != str(person_id):
            prefetch = _renamed(prefetch, fhir_id)
        body = hook_request(hook, fhir_id, prefetch, as_of=as_of)
        status, answer, latency = call_hook(client, endpoint, body, key_pem=key_pem, iss=iss, kid=kid, alg=alg)
        streams[i >= patients].append(ReplayResult(person_id, as_of, status, answer, latency))
    return DriftReplay(*streams)
