"""Helpers of the monitoring tests: constants, the test EHR's patient ids, and the fixtures' records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dari.monitoring.replay import DriftReplay

SITE_PATIENTS = 3000
BASE_URL = "https://cds.monitoring.test"
ISSUER = "https://ehr.monitoring.test"
STREAM = 200  # calls per replayed population: the default policy's minimum for a drift verdict
FHIR_ID_PREFIX = "QZFHIR"  # the test EHR's own patient ids: letters that no number, hash or uuid in a payload has


def fhir_id(person_id: int) -> str:
    """The id the test EHR gives a CDM person (a real EHR's ids differ from the CDM's)."""
    return f"{FHIR_ID_PREFIX}{person_id}x"


@dataclass(frozen=True)
class EhrKey:
    """The test EHR's signing key and the JWKS file with its public half."""

    pem: bytes
    jwks_file: Path


@dataclass(frozen=True)
class Replayed:
    """A CDS service database after the drift replay: STREAM unshifted calls, then STREAM shifted ones."""

    database: Path
    replay: DriftReplay
    fhir_ids: tuple[str, ...]
