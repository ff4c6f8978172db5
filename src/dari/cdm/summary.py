"""What a site's CDM holds, in counts: the figures `dari demo` and `dari cdm summary` show."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from dari.cdm.concepts import ETHNICITY_STANDARD, RACE_STANDARD, VISIT_STANDARD, concept_label, sex_case_sql, sex_codes
from dari.cdm.reference import age_sql, reference_date
from dari.cdm.store import CdmStore
from dari.cdm.version import read_cdm_version, require_fields

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
    persons_by_race: dict[str, int] = field(default_factory=dict)  # Athena's standard race names where known
    persons_by_ethnicity: dict[str, int] = field(default_factory=dict)
    visits_by_kind: dict[str, int] = field(default_factory=dict)  # visit_concept_id's name (9201 Inpatient …)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


def _by_concept(store: CdmStore, table: str, column: str, standard: dict[int, str], names: bool) -> dict[str, int]:
    """Rows per concept of one column, labelled by the CDM's concept name, else Athena's, else 'concept <id>'."""
    if column not in store.table_columns().get(table, set()):
        return {}
    name = "c.concept_name" if names else "NULL"
    join = f"LEFT JOIN concept c ON c.concept_id = t.{column}" if names else ""
    rows = store.query(f"SELECT t.{column}, {name}, count(*) FROM {table} t {join} GROUP BY 1, 2 ORDER BY 3 DESC")
    out: dict[str, int] = {}
    for cid, label, n in rows:
        key = "no concept" if cid in (None, 0) else concept_label(int(cid), label, standard)
        out[key] = out.get(key, 0) + int(n)
    return out


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
        require_fields(store, "person", ("gender_concept_id", "year_of_birth"))
        sex = sex_case_sql("gender_concept_id", sex_codes(store))
        share, age = store.query(
            f"SELECT avg(CASE WHEN {sex} = 'F' THEN 1.0 ELSE 0.0 END), "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {age_sql(ref)}) FROM person"
        )[0]
        out.female_share = None if share is None else float(share)
        out.median_age = None if age is None else float(age)
    if out.rows.get("person"):
        out.persons_by_race = _by_concept(store, "person", "race_concept_id", RACE_STANDARD, "concept" in tables)
        out.persons_by_ethnicity = _by_concept(
            store, "person", "ethnicity_concept_id", ETHNICITY_STANDARD, "concept" in tables
        )
    if out.rows.get("visit_occurrence"):
        out.visits_by_kind = _by_concept(
            store, "visit_occurrence", "visit_concept_id", VISIT_STANDARD, "concept" in tables
        )
    if "observation_period" in tables:
        require_fields(store, "observation_period", ("observation_period_start_date", "observation_period_end_date"))
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
