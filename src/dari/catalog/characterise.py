"""Characterisation of a site's CDM for the hub catalog: counts only, every one through disclosure control.

Computed at the site inside the database (one GROUP BY per figure); only protected counts come back.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from dari.cdm.store import CdmStore
from dari.disclosure import DisclosureRules, ProtectedCount, protect_count

AGE_BAND_YEARS = 10
REFERENCE_YEAR = 2025  # ages are taken at the end of the synthetic data period; a real site passes its own
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
    persons: ProtectedCount
    age_sex: list[AgeSexCount]
    top: dict[str, list[ConceptCount]]

    def to_json(self) -> str:
        """Indented JSON."""
        return self.model_dump_json(indent=2)


def characterise(
    store: CdmStore, *, rules: DisclosureRules | None = None, top: int = 10, reference_year: int = REFERENCE_YEAR
) -> Characterisation:
    """Counts by age band and sex and the most frequent concepts per domain, all disclosure-controlled."""
    r = rules or DisclosureRules()
    tables = store.table_columns()
    persons = int(store.query("SELECT count(*) FROM person")[0][0])
    band = f"CAST(({int(reference_year)} - p.year_of_birth) / {AGE_BAND_YEARS} AS INTEGER) * {AGE_BAND_YEARS}"
    rows = (
        store.query(
            f"SELECT {band} AS band, coalesce(c.concept_code, 'unknown') AS sex, count(*) FROM person p "
            "LEFT JOIN concept c ON c.concept_id = p.gender_concept_id GROUP BY 1, 2 ORDER BY 1, 2"
        )
        if "concept" in tables
        else []
    )
    age_sex = [
        AgeSexCount(age_band=f"{b}-{b + AGE_BAND_YEARS - 1}", sex=str(s), persons=protect_count(int(n), r))
        for b, s, n in rows
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
    return Characterisation(rules=r, persons=protect_count(persons, r), age_sex=age_sex, top=top_concepts)
