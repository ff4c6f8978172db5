"""What a site's CDM holds, in counts: the figures `dari demo` and `dari cdm summary` show."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from dari.cdm.concepts import sex_case_sql, sex_codes
from dari.cdm.reference import age_sql, reference_date
from dari.cdm.store import CdmStore
from dari.cdm.version import read_cdm_version

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
    cdm_version: str | None = None  # as cdm_source declares it
    checked_as: str = "v5.4"  # the definitions dari reads the CDM with
    version_note: str | None = None
    reference_date: str | None = None  # ages are taken at this date
    rows: dict[str, int] = field(default_factory=dict)
    female_share: float | None = None  # of all persons; persons of unknown sex count in the denominator
    median_age: float | None = None
    first_date: str | None = None
    last_date: str | None = None
    top_conditions: list[TopConcept] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


def summarise(store: CdmStore, *, top: int = 8, at: date | None = None) -> CdmSummary:
    """Count what the CDM holds, ages at `at` (default: its observation end); Korean names from concept_synonym."""
    tables = store.table_columns()
    version = read_cdm_version(store)
    ref = reference_date(store, at)
    out = CdmSummary(
        label=store.label,
        cdm_version=version.declared,
        checked_as=version.checked_as,
        version_note=version.note,
        reference_date=ref.isoformat(),
    )
    for t in _COUNTED:
        if t in tables:
            out.rows[t] = int(store.query(f"SELECT count(*) FROM {t}")[0][0])
    if out.rows.get("person"):
        sex = sex_case_sql("gender_concept_id", sex_codes(store))
        share, age = store.query(
            f"SELECT avg(CASE WHEN {sex} = 'F' THEN 1.0 ELSE 0.0 END), "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {age_sql(ref)}) FROM person"
        )[0]
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
