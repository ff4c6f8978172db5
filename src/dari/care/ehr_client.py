"""A small test EHR: turns a site's OMOP CDM rows into FHIR R4 prefetch, signs CDS Hooks JWTs, calls a hook.

What a hospital integration engineer runs before connecting the real EHR: the same FHIR the EHR would send
(Patient with the CDM's birth-date precision, Observations by LOINC with UCUM units, Conditions by SNOMED CT and
KCD), signed the way CDS Hooks 2.0 asks, with the latency of each call.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import jwt

from dari.care.evaluation import AS_OF_EXTENSION
from dari.care.fhir_inputs import KCD_SYSTEMS, SNOMED_SYSTEM, UCUM_SYSTEM
from dari.care.fhir_parse import CONDITIONS_KEY, LOINC_SYSTEM, OBSERVATIONS_KEY, PATIENT_KEY
from dari.cdm.store import CdmStore
from dari.errors import InputError
from dari.models.cdm_concepts import ATHENA_FEMALE, ATHENA_MALE

KCD_SYSTEM = KCD_SYSTEMS[0]
CDM_TIMEZONE = ZoneInfo("Asia/Seoul")  # the CDM's date-times are the hospital's local time
JWT_LIFETIME_S = 300  # CDS Hooks: short-lived, single use


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def _birth_date(year: int, month: int | None, day: int | None) -> str:
    """The FHIR birthDate with the CDM's precision: YYYY when only the year is kept (pseudonymised CDMs)."""
    if month is None:
        return f"{year:04d}"
    return f"{year:04d}-{month:02d}" if day is None else f"{year:04d}-{month:02d}-{day:02d}"


def cdm_patient(store: CdmStore, person_id: int) -> dict[str, Any]:
    """CDM person → FHIR Patient (id, birthDate, gender)."""
    rows = store.query(
        "SELECT p.year_of_birth, p.month_of_birth, p.day_of_birth, p.gender_concept_id, g.concept_code "
        "FROM person p LEFT JOIN concept g ON g.concept_id = p.gender_concept_id WHERE p.person_id = ?",
        [person_id],
    )
    if not rows:
        raise InputError(f"no person {person_id} in the CDM", column="person_id")
    year, month, day, gender_id, code = rows[0]
    patient: dict[str, Any] = {"resourceType": "Patient", "id": str(person_id)}
    if year is not None:
        patient["birthDate"] = _birth_date(int(year), month, day)
    if code == "M" or gender_id == ATHENA_MALE:
        patient["gender"] = "male"
    elif code == "F" or gender_id == ATHENA_FEMALE:
        patient["gender"] = "female"
    else:
        patient["gender"] = "unknown"
    return patient


def _effective(day: date, at: datetime | None, tz: ZoneInfo) -> str:
    """FHIR effectiveDateTime: the CDM's local date-time with the site's offset (FHIR requires one), else the date.

    The time matters: the service chooses the latest of same-day values by it, and refuses differing ones that
    carry only a date as ambiguous."""
    if at is None:
        return day.isoformat()
    return (at if at.tzinfo is not None else at.replace(tzinfo=tz)).isoformat()


def cdm_observations(
    store: CdmStore, person_id: int, loinc_codes: tuple[str, ...], tz: ZoneInfo = CDM_TIMEZONE
) -> list[dict[str, Any]]:
    """CDM measurements of the given LOINC codes → FHIR Observations (UCUM units), newest first, timed in `tz`."""
    if not loinc_codes:
        return []
    marks = ", ".join("?" for _ in loinc_codes)
    rows = store.query(
        f"""SELECT m.measurement_id, c.concept_code, c.concept_name, m.measurement_date, m.value_as_number,
                   u.concept_code, u.vocabulary_id, m.measurement_datetime
            FROM measurement m JOIN concept c ON c.concept_id = m.measurement_concept_id
            LEFT JOIN concept u ON u.concept_id = m.unit_concept_id
            WHERE m.person_id = ? AND c.vocabulary_id = 'LOINC' AND c.concept_code IN ({marks})
              AND m.value_as_number IS NOT NULL
            ORDER BY m.measurement_date DESC, m.measurement_datetime DESC NULLS LAST, m.measurement_id DESC""",
        [person_id, *loinc_codes],
    )
    out = []
    for mid, code, name, day, value, unit, unit_vocab, at in rows:
        quantity: dict[str, Any] = {"value": float(value)}
        if unit is not None and unit_vocab == "UCUM":
            quantity |= {"unit": unit, "system": UCUM_SYSTEM, "code": unit}
        out.append(
            {
                "resourceType": "Observation",
                "id": f"m{mid}",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "laboratory",
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": LOINC_SYSTEM, "code": code, "display": name}]},
                "subject": {"reference": f"Patient/{person_id}"},
                "effectiveDateTime": _effective(day, at, tz),
                "valueQuantity": quantity,
            }
        )
    return out


def cdm_conditions(store: CdmStore, person_id: int) -> list[dict[str, Any]]:
    """CDM condition_occurrence → FHIR Conditions coded in SNOMED CT and (from the source code) KCD."""
    rows = store.query(
        """SELECT co.condition_occurrence_id, s.concept_code, s.vocabulary_id, s.concept_name,
                  k.concept_code, k.vocabulary_id, co.condition_start_date
           FROM condition_occurrence co LEFT JOIN concept s ON s.concept_id = co.condition_concept_id
           LEFT JOIN concept k ON k.concept_id = co.condition_source_concept_id
           WHERE co.person_id = ? ORDER BY co.condition_start_date, co.condition_occurrence_id""",
        [person_id],
    )
    out = []
    for cid, code, vocab, name, kcd, kcd_vocab, start in rows:
        codings = []
        if code is not None and vocab == "SNOMED":
            codings.append({"system": SNOMED_SYSTEM, "code": code, "display": name})
        if kcd is not None and str(kcd_vocab).startswith("KCD"):
            codings.append({"system": KCD_SYSTEM, "code": kcd})
        if not codings:
            continue
        out.append(
            {
                "resourceType": "Condition",
                "id": f"c{cid}",
                "code": {"coding": codings},
                "subject": {"reference": f"Patient/{person_id}"},
                "onsetDateTime": start.isoformat(),
            }
        )
    return out


def loinc_codes_of(templates: dict[str, str]) -> tuple[str, ...]:
    """The LOINC codes a discovery document's Observation prefetch template asks for."""
    query = urlsplit(templates.get(OBSERVATIONS_KEY, "")).query
    tokens = ",".join(parse_qs(query).get("code", [])).split(",")
    return tuple(t.split("|", 1)[1] for t in tokens if t.startswith(f"{LOINC_SYSTEM}|"))


def cdm_prefetch(store: CdmStore, person_id: int, templates: dict[str, str]) -> dict[str, Any]:
    """What an EHR would prefetch for this person under a service's templates."""
    prefetch: dict[str, Any] = {PATIENT_KEY: cdm_patient(store, person_id)}
    prefetch[OBSERVATIONS_KEY] = _searchset(cdm_observations(store, person_id, loinc_codes_of(templates)))
    if CONDITIONS_KEY in templates:
        prefetch[CONDITIONS_KEY] = _searchset(cdm_conditions(store, person_id))
    return prefetch


def sign_jwt(private_key_pem: bytes, *, iss: str, aud: str, kid: str, alg: str = "ES384") -> str:
    """A CDS Hooks client JWT: iss, sub, aud (the service endpoint), iat, exp (5 min), a fresh jti."""
    now = int(time.time())
    claims = {"iss": iss, "sub": iss, "aud": aud, "iat": now, "exp": now + JWT_LIFETIME_S, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, private_key_pem, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


def hook_request(
    hook: str, patient_id: str, prefetch: dict[str, Any], *, as_of: date | None = None, locale: str | None = None
) -> dict[str, Any]:
    """A CDS Hooks 2.0 request body."""
    extension: dict[str, Any] = {}
    if as_of is not None:
        extension[AS_OF_EXTENSION] = as_of.isoformat()
    if locale is not None:
        extension["locale"] = locale
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dari-test-ehr", "patientId": patient_id},
        "prefetch": prefetch,
    }
    if extension:
        body["extension"] = extension
    return body


@dataclass(frozen=True)
class ReplayResult:
    """One replayed call: the patient, HTTP status, the cards (or the error body) and the latency."""

    person_id: int
    as_of: date
    status: int
    body: dict[str, Any]
    latency_ms: float


def index_patients(store: CdmStore, loinc: str, limit: int) -> list[tuple[int, date]]:
    """Persons with a measurement of `loinc`, each with the date of their first one (the cohort's index rule)."""
    rows = store.query(
        """SELECT m.person_id, min(m.measurement_date) FROM measurement m
           JOIN concept c ON c.concept_id = m.measurement_concept_id
           WHERE c.vocabulary_id = 'LOINC' AND c.concept_code = ? AND m.value_as_number IS NOT NULL
           GROUP BY m.person_id ORDER BY m.person_id LIMIT ?""",
        [loinc, limit],
    )
    return [(int(p), d) for p, d in rows]


def discover_service(client: httpx.Client, service_url: str, hook: str) -> tuple[str, dict[str, str]]:
    """The endpoint of the service's `hook` and its prefetch templates, from the discovery document."""
    root = service_url.rstrip("/")
    services = client.get(f"{root}/cds-services").raise_for_status().json()["services"]
    service = next((s for s in services if s["hook"] == hook), None)
    if service is None:
        raise InputError(f"the service at {root} offers no {hook} hook")
    templates: dict[str, str] = service.get("prefetch", {})
    if not loinc_codes_of(templates):
        raise InputError("the service's Observation prefetch names no LOINC code")
    return f"{root}/cds-services/{service['id']}", templates


def call_hook(
    client: httpx.Client, endpoint: str, body: dict[str, Any], *, key_pem: bytes, iss: str, kid: str, alg: str
) -> tuple[int, dict[str, Any], float]:
    """POST one hook request with a fresh JWT: status, JSON body and latency in ms."""
    token = sign_jwt(key_pem, iss=iss, aud=endpoint, kid=kid, alg=alg)
    start = time.perf_counter()
    response = client.post(endpoint, json=body, headers={"Authorization": f"Bearer {token}"})
    latency = (time.perf_counter() - start) * 1000
    return response.status_code, response.json(), latency


def replay(
    client: httpx.Client,
    service_url: str,
    store: CdmStore,
    *,
    patients: int,
    key_pem: bytes,
    iss: str,
    kid: str,
    alg: str = "ES384",
    hook: str = "patient-view",
    locale: str | None = None,
) -> list[ReplayResult]:
    """Replay `patients` persons through the service's `hook`, evaluated at each one's first index measurement."""
    endpoint, templates = discover_service(client, service_url, hook)
    results = []
    for person_id, as_of in index_patients(store, loinc_codes_of(templates)[0], patients):
        body = hook_request(hook, str(person_id), cdm_prefetch(store, person_id, templates), as_of=as_of, locale=locale)
        status, answer, latency = call_hook(client, endpoint, body, key_pem=key_pem, iss=iss, kid=kid, alg=alg)
        results.append(ReplayResult(person_id, as_of, status, answer, latency))
    return results
