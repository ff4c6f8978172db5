"""Which OMOP CDM version a database declares (`cdm_source.cdm_version`) and how v5.3 differs from v5.4.

dari's table definitions are v5.4's (omop_cdm_v5.4_fields.csv). A v5.3 CDM is read and checked as v5.3: the
fields v5.4 renamed are looked up under their v5.3 names, and the tables and fields v5.4 added are not expected
(quality checks on them are "not applicable", never failures). A declared version dari does not know is refused
by `require_supported`, naming the table and column it read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from dari.cdm.store import CdmStore
from dari.errors import StoreError

Version = Literal["v5.3", "v5.4"]
SUPPORTED: tuple[Version, ...] = ("v5.3", "v5.4")
_DECLARED = re.compile(r"(?i)^\s*(?:omop\s*)?(?:cdm\s*)?v?\s*(\d+)\.(\d+)")

# From OHDSI's "CDM v5.4 changes" (CommonDataModel, inst/csv field tables of v5.3 and v5.4), checked against
# Eunomia's v5.3.1: (table, v5.4 field) -> the v5.3 field name.
RENAMED_IN_V54: dict[tuple[str, str], str] = {
    ("visit_occurrence", "admitted_from_concept_id"): "admitting_source_concept_id",
    ("visit_occurrence", "admitted_from_source_value"): "admitting_source_value",
    ("visit_occurrence", "discharged_to_concept_id"): "discharge_to_concept_id",
    ("visit_occurrence", "discharged_to_source_value"): "discharge_to_source_value",
    ("visit_detail", "admitted_from_concept_id"): "admitting_source_concept_id",
    ("visit_detail", "admitted_from_source_value"): "admitting_source_value",
    ("visit_detail", "discharged_to_concept_id"): "discharge_to_concept_id",
    ("visit_detail", "discharged_to_source_value"): "discharge_to_source_value",
    ("visit_detail", "parent_visit_detail_id"): "visit_detail_parent_id",
}
V53_ONLY_FIELDS = frozenset((table, old) for (table, _), old in RENAMED_IN_V54.items())
# Fields v5.4 added to tables v5.3 already had.
ADDED_IN_V54: frozenset[tuple[str, str]] = frozenset(
    {
        ("procedure_occurrence", "procedure_end_date"),
        ("procedure_occurrence", "procedure_end_datetime"),
        ("device_exposure", "production_id"),
        ("device_exposure", "unit_concept_id"),
        ("device_exposure", "unit_source_value"),
        ("device_exposure", "unit_source_concept_id"),
        ("measurement", "unit_source_concept_id"),
        ("measurement", "measurement_event_id"),
        ("measurement", "meas_event_field_concept_id"),
        ("observation", "value_source_value"),
        ("observation", "observation_event_id"),
        ("observation", "obs_event_field_concept_id"),
        ("note", "note_event_id"),
        ("note", "note_event_field_concept_id"),
        ("location", "country_concept_id"),
        ("location", "country_source_value"),
        ("location", "latitude"),
        ("location", "longitude"),
        ("metadata", "metadata_id"),
        ("metadata", "value_as_number"),
        ("cdm_source", "cdm_version_concept_id"),
    }
)
ADDED_TABLES_V54 = frozenset({"episode", "episode_event"})


@dataclass(frozen=True)
class CdmVersion:
    """The version a CDM declares, the one dari reads it as, and why (when it had to assume)."""

    declared: str | None
    version: Version | None
    note: str | None = None

    @property
    def checked_as(self) -> Version:
        """The definitions dari applies: the declared version, v5.4 when none is declared."""
        return self.version or "v5.4"


def parse_version(declared: str | None) -> Version | None:
    """'v5.3.1', '5.3', 'CDM v5.4.0' -> 'v5.3' / 'v5.4'; None for anything else."""
    m = _DECLARED.match(declared or "")
    if not m:
        return None
    found = f"v{int(m.group(1))}.{int(m.group(2))}"
    return next((v for v in SUPPORTED if v == found), None)


def read_cdm_version(store: CdmStore) -> CdmVersion:
    """The version in cdm_source.cdm_version; a CDM without one is read as v5.4, with a note saying so."""
    columns = store.table_columns().get("cdm_source")
    if columns is None or "cdm_version" not in columns:
        missing = "table cdm_source" if columns is None else "column cdm_source.cdm_version"
        return CdmVersion(None, None, f"no {missing}: read as OMOP CDM v5.4")
    rows = store.query("SELECT cdm_version FROM cdm_source WHERE cdm_version IS NOT NULL")
    declared = sorted({str(r[0]).strip() for r in rows if str(r[0]).strip()})
    if not declared:
        return CdmVersion(None, None, "cdm_source.cdm_version is empty: read as OMOP CDM v5.4")
    versions = {parse_version(d) for d in declared}
    if len(declared) > 1 and len(versions) > 1:
        return CdmVersion(", ".join(declared), None, "cdm_source declares several CDM versions")
    version = versions.pop()
    note = None if version else f"cdm_source.cdm_version {declared[0]!r} is not OMOP CDM v5.3 or v5.4"
    return CdmVersion(declared[0], version, note)


def require_supported(found: CdmVersion) -> Version:
    """The version to read the CDM as; StoreError when it declares one dari cannot read."""
    if found.declared is not None and found.version is None:
        raise StoreError(f"{found.note}; dari reads OMOP CDM {' and '.join(SUPPORTED)}")
    return found.checked_as


def require_fields(store: CdmStore, table: str, fields: tuple[str, ...]) -> None:
    """StoreError naming the table, or each of its fields, that a command needs and this CDM lacks."""
    columns = store.table_columns().get(table)
    if columns is None:
        raise StoreError(f"{store.label} has no {table} table")
    missing = [f for f in fields if f not in columns]
    if missing:
        raise StoreError(f"{store.label}: table {table} has no column {', '.join(missing)}")


def field_name(table: str, field: str, version: Version) -> str | None:
    """The name a v5.4 field has in a CDM of `version`; None when that version has no such field."""
    if version == "v5.4":
        return field
    if table in ADDED_TABLES_V54 or (table, field) in ADDED_IN_V54:
        return None
    return RENAMED_IN_V54.get((table, field), field)
