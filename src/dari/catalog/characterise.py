"""Characterisation of a site's CDM for the hub catalog: counts only, every one through disclosure control.

Computed at the site inside the database (one GROUP BY per figure); only protected counts come back.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from dari.cdm.concepts import sex_case_sql, sex_codes
from dari.cdm.reference import age_sql, reference_date
from dari.cdm.store import CdmStore
from dari.cdm.version import require_fields
from dari.disclosure import DisclosureRules, ProtectedCount, protect_count

AGE_BAND_YEARS = 10
AGE_CAP = 90
_DOMAINS = {
    "conditions": ("condition_occurrence", "condition_concept_id"),
    "drugs": ("drug_exposure", "drug_concept_id"),
    "measurements": ("measurement", "measurement_concept_id"),
    "procedures": ("procedure_occurrence", "procedure_concept_id"),
}


class ConceptCount(BaseModel):
    """Persons with a concept, protected."""

    model_config = ConfigDict(frozen=True)
    concept_id: int
    name: str
    persons: ProtectedCount


class AgeSexCount(BaseModel):
    """Persons in an age band of one sex, protected."""

    model_config = ConfigDict(frozen=True)
    age_band: str
    sex: str
    persons: ProtectedCount


class Characterisation(BaseModel):
    """What leaves the site for the catalog: totals, age/sex structure and top concepts per domain."""

    model_config = ConfigDict(frozen=True)
    rules: DisclosureRules
    reference_date: date | None = None  # ages are taken at this date (None in records made before it was kept)
    persons: ProtectedCount
    age_sex: list[AgeSexCount]
    top: dict[str, list[ConceptCount]]

    def to_json(self) -> str:
        """Indented JSON."""
        return self.model_dump_json(indent=2)


def _band_label(low: int) -> str:
    return f"{AGE_CAP}+" if low >= AGE_CAP else f"{low}-{low + AGE_BAND_YEARS - 1}"


def characterise(
    store: CdmStore, *, rules: DisclosureRules | None = None, top: int = 10, at: date | None = None
) -> Characterisation:
    """Counts by age band (ages at `at`, default the CDM's observation end) and sex, and top concepts per domain."""
    r = rules or DisclosureRules()
    tables = store.table_columns()
    require_fields(store, "person", ("gender_concept_id", "year_of_birth"))
    ref = reference_date(store, at)
    persons = int(store.query("SELECT count(*) FROM person")[0][0])
    # floor(), not an integer cast: DuckDB and PostgreSQL round a cast, which moved ages 5-9 up a band. Ages
    # from 90 share one open band, as in feasibility: exact old ages identify people.
    age = age_sql(ref)
    band = (
        f"CASE WHEN {age} >= {AGE_CAP} THEN {AGE_CAP} "
        f"ELSE CAST(floor({age} / {AGE_BAND_YEARS}.0) AS INTEGER) * {AGE_BAND_YEARS} END"
    )
    sex = sex_case_sql("gender_concept_id", sex_codes(store))
    rows = store.query(f"SELECT {band} AS band, {sex} AS sex, count(*) FROM person GROUP BY 1, 2 ORDER BY 1, 2")
    age_sex = [
        AgeSexCount(age_band=_band_label(int(b)), sex=str(s), persons=protect_count(int(n), r)) for b, s, n in rows
    ]
    top_concepts: dict[str, list[ConceptCount]] = {}
    for domain, (table, column) in _DOMAINS.items():
        if table not in tables or "concept" not in tables:
            continue
        found = store.query(
            f"SELECT c.concept_id, c.concept_name, t.n FROM (SELECT {column} AS cid, count(DISTINCT person_id) AS n "
            f"FROM {table} WHERE {column} <> 0 GROUP BY {column}) t JOIN concept c ON c.concept_id = t.cid "
            f"ORDER BY t.n DESC, c.concept_id LIMIT {int(top)}"
        )
        top_concepts[domain] = [
            ConceptCount(concept_id=int(cid), name=str(name), persons=protect_count(int(n), r))
            for cid, name, n in found
        ]
    return Characterisation(
        rules=r, reference_date=ref, persons=protect_count(persons, r), age_sex=age_sex, top=top_concepts
    )
