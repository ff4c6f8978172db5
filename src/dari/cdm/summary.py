"""What a site's CDM holds, in counts: the figures `dari demo` and `dari cdm summary` show."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dari.cdm.store import CdmStore

_COUNTED = (
    "person",
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "measurement",
    "procedure_occurrence",
    "note",
    "death",
)


@dataclass
class TopConcept:
    """A frequent concept with the number of distinct persons who have it."""

    concept_id: int
    name: str
    name_ko: str | None
    persons: int


@dataclass
class CdmSummary:
    """Row counts, demographics and the most frequent conditions of one CDM."""

    label: str
    rows: dict[str, int] = field(default_factory=dict)
    female_share: float | None = None
    median_age: float | None = None
    first_date: str | None = None
    last_date: str | None = None
    top_conditions: list[TopConcept] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


def summarise(store: CdmStore, *, top: int = 8) -> CdmSummary:
    """Count what the CDM holds; Korean names come from concept_synonym where a Korean one exists."""
    tables = store.table_columns()
    out = CdmSummary(label=store.label)
    for t in _COUNTED:
        if t in tables:
            out.rows[t] = int(store.query(f"SELECT count(*) FROM {t}")[0][0])
    if out.rows.get("person"):
        share, age = (
            store.query(
                "SELECT avg(CASE WHEN c.concept_code = 'F' THEN 1.0 ELSE 0.0 END), "
                "percentile_cont(0.5) WITHIN GROUP (ORDER BY 2025 - p.year_of_birth) "
                "FROM person p LEFT JOIN concept c ON c.concept_id = p.gender_concept_id"
            )[0]
            if "concept" in tables
            else (None, None)
        )
        out.female_share = None if share is None else float(share)
        out.median_age = None if age is None else float(age)
    if "observation_period" in tables:
        lo, hi = store.query(
            "SELECT min(observation_period_start_date), max(observation_period_end_date) FROM observation_period"
        )[0]
        out.first_date, out.last_date = (str(lo) if lo else None), (str(hi) if hi else None)
    if "condition_occurrence" in tables and "concept" in tables:
        has_synonyms = "concept_synonym" in tables
        ko = (
            (
                "(SELECT min(s.concept_synonym_name) FROM concept_synonym s JOIN concept l "
                "ON l.concept_id = s.language_concept_id WHERE s.concept_id = c.concept_id "
                "AND l.concept_code = 'ko')"
            )
            if has_synonyms
            else "NULL"
        )
        rows = store.query(
            f"SELECT c.concept_id, c.concept_name, {ko}, n FROM (SELECT condition_concept_id AS cid, "
            "count(DISTINCT person_id) AS n FROM condition_occurrence WHERE condition_concept_id <> 0 "
            "GROUP BY condition_concept_id) t JOIN concept c ON c.concept_id = t.cid "
            f"ORDER BY n DESC, c.concept_id LIMIT {int(top)}"
        )
        out.top_conditions = [TopConcept(int(r[0]), str(r[1]), r[2], int(r[3])) for r in rows]
    return out
