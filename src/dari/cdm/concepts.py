"""OHDSI standard person-level concepts (gender, race, ethnicity) and how a site's CDM reads them: one mapping place.

Every command that counts persons by sex (summary, characterise, feasibility, Table 1, validation) reads the
gender concept through `sex_codes`, so they can never disagree. A CDM built on Athena vocabularies stores the
standard Gender concepts 8507 (MALE) / 8532 (FEMALE), and many ETLs (OHDSI's Eunomia among them) do not ship
those rows in their `concept` table, so the ids are known here without it; dari's synthetic sites number their
own Gender concepts (local ids above 2,000,000,000) and are found by code 'M'/'F' in vocabulary 'Gender'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dari.cdm.store import CdmStore

# Athena's standard Gender concepts (vocabulary 'Gender', concept codes in parentheses).
MALE = 8507  # M
FEMALE = 8532  # F
GENDER_STANDARD: dict[int, str] = {MALE: "M", FEMALE: "F"}
# Every other id (0 "No matching concept", 8551 UNKNOWN, 8570 AMBIGUOUS, 8521 OTHER) counts as "unknown".

# Athena's standard Race and Ethnicity concepts (vocabularies 'Race', 'Ethnicity'), for labels where a CDM's
# concept table lacks them.
RACE_STANDARD: dict[int, str] = {
    8527: "White",
    8516: "Black or African American",
    8515: "Asian",
    8557: "Native Hawaiian or Other Pacific Islander",
    8657: "American Indian or Alaska Native",
}
ETHNICITY_STANDARD: dict[int, str] = {38003563: "Hispanic or Latino", 38003564: "Not Hispanic or Latino"}

# Athena's standard Visit concepts, the ones OHDSI tools group visits by.
VISIT_STANDARD: dict[int, str] = {
    9201: "Inpatient Visit",
    9202: "Outpatient Visit",
    9203: "Emergency Room Visit",
    262: "Emergency Room and Inpatient Visit",
    581477: "Office Visit",
    42898160: "Non-hospital institution Visit",
}

SEXES = ("F", "M", "unknown")


def merge_gender_rows(rows: Iterable[tuple[object, object]]) -> dict[int, str]:
    """The standard ids plus (concept_id, concept_code) rows of a CDM's 'Gender' vocabulary coded M or F."""
    codes = dict(GENDER_STANDARD)
    codes.update({int(str(cid)): str(code) for cid, code in rows if str(code) in ("M", "F")})
    return codes


def sex_codes(store: CdmStore) -> dict[int, str]:
    """Gender concept id -> 'M' / 'F' for this CDM: the standard ids plus the site's own 'Gender' M/F concepts."""
    if "concept" not in store.table_columns():
        return dict(GENDER_STANDARD)
    return merge_gender_rows(store.query(GENDER_ROWS_SQL))


GENDER_ROWS_SQL = "SELECT concept_id, concept_code FROM concept WHERE vocabulary_id = 'Gender'"


def gender_ids(codes: Mapping[int, str]) -> tuple[list[int], list[int]]:
    """(male concept ids, female concept ids) of a `sex_codes` mapping, sorted."""
    return sorted(i for i, c in codes.items() if c == "M"), sorted(i for i, c in codes.items() if c == "F")


def sex_label(gender_concept_id: int | None, codes: Mapping[int, str]) -> str:
    """'F', 'M' or 'unknown' for one gender_concept_id."""
    return "unknown" if gender_concept_id is None else codes.get(int(gender_concept_id), "unknown")


def concept_label(concept_id: int, name: str | None, standard: Mapping[int, str]) -> str:
    """The concept's name from the CDM's concept table, else Athena's standard name, else 'concept <id>'."""
    return name or standard.get(int(concept_id), f"concept {int(concept_id)}")


def sex_case_sql(column: str, codes: Mapping[int, str]) -> str:
    """A SQL CASE giving 'F', 'M' or 'unknown' for a gender_concept_id column (ids are integers, inlined)."""
    male, female = gender_ids(codes)
    parts = [
        f"WHEN {column} IN ({', '.join(str(int(i)) for i in ids)}) THEN '{s}'"
        for s, ids in (("F", female), ("M", male))
        if ids
    ]
    return f"CASE {' '.join(parts)} ELSE 'unknown' END"


def count_by_sex(pairs: Iterable[tuple[int | None, int]], codes: Mapping[int, str]) -> dict[str, int]:
    """Sum (gender_concept_id, n) pairs into F / M / unknown."""
    out = dict.fromkeys(SEXES, 0)
    for gid, n in pairs:
        out[sex_label(gid, codes)] += int(n)
    return out
