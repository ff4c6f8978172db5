"""A small, valid OMOP CDM v5.4 (four persons, a tiny concept table) in DuckDB, to break on purpose.

A uniquely named module (not conftest) so that tests can import it whatever other conftest files exist.
"""

from __future__ import annotations

import duckdb

from dari.cdm.store import create_cdm_schema

# Local concept ids, as dari's vocabulary has them; codes are the real LOINC / SNOMED / UCUM codes.
CONCEPTS = [
    (8507, "MALE", "Gender", "Gender", "Gender", "S", "M"),
    (8532, "FEMALE", "Gender", "Gender", "Gender", "S", "F"),
    (8515, "Asian", "Race", "Race", "Race", "S", "2"),
    (38003564, "Not Hispanic or Latino", "Ethnicity", "Ethnicity", "Ethnicity", "S", "Not Hispanic"),
    (32817, "EHR", "Type Concept", "Type Concept", "Type Concept", "S", "OMOP4976890"),
    (9202, "Outpatient Visit", "Visit", "Visit", "Visit", "S", "OP"),
    (201826, "Type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S", "44054006"),
    (4163261, "Malignant tumor of prostate", "Condition", "SNOMED", "Clinical Finding", "S", "399068003"),
    (45552385, "Type 2 diabetes mellitus (ICD10)", "Condition", "ICD10", "3-char nonbill code", None, "E11"),
    (1503297, "Metformin", "Drug", "RxNorm", "Ingredient", "S", "6809"),
    (3004410, "Hemoglobin A1c", "Measurement", "LOINC", "Lab Test", "S", "4548-4"),
    (3016723, "Creatinine", "Measurement", "LOINC", "Lab Test", "S", "2160-0"),
    (8554, "percent", "Unit", "UCUM", "Unit", "S", "%"),
    (8840, "milligram per deciliter", "Unit", "UCUM", "Unit", "S", "mg/dL"),
]


def _concept_rows() -> list[str]:
    out = []
    for cid, name, domain, vocab, cls, std, code in CONCEPTS:
        standard = f"'{std}'" if std else "NULL"
        out.append(
            f"({cid}, '{name}', '{domain}', '{vocab}', '{cls}', {standard}, '{code}', "
            "DATE '1970-01-01', DATE '2099-12-31', NULL)"
        )
    return out


SMALL_CDM_SQL = [
    "INSERT INTO concept VALUES " + ", ".join(_concept_rows()),
    # person: id, gender, year, month, day, birth_datetime, race, ethnicity, then nullable columns
    "INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id) "
    "VALUES (1, 8507, 1950, 8515, 38003564), (2, 8532, 1980, 8515, 38003564), "
    "(3, 8507, 1970, 8515, 38003564), (4, 8532, 2000, 8515, 38003564)",
    "INSERT INTO observation_period VALUES (1, 1, DATE '2015-01-01', DATE '2023-12-31', 32817), "
    "(2, 2, DATE '2015-01-01', DATE '2023-12-31', 32817), "
    "(3, 3, DATE '2015-01-01', DATE '2022-05-01', 32817), "
    "(4, 4, DATE '2015-01-01', DATE '2023-12-31', 32817)",
    "INSERT INTO visit_occurrence (visit_occurrence_id, person_id, visit_concept_id, visit_start_date, "
    "visit_end_date, visit_type_concept_id) VALUES "
    "(10, 1, 9202, DATE '2020-03-01', DATE '2020-03-01', 32817), "
    "(11, 2, 9202, DATE '2020-03-02', DATE '2020-03-02', 32817), "
    "(12, 3, 9202, DATE '2020-03-03', DATE '2020-03-03', 32817), "
    "(13, 4, 9202, DATE '2021-06-01', DATE '2021-06-02', 32817), "
    "(14, 1, 9202, DATE '2021-01-10', DATE '2021-01-10', 32817)",
    "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, "
    "condition_start_date, condition_type_concept_id, visit_occurrence_id, condition_source_concept_id) "
    "VALUES "
    "(20, 1, 201826, DATE '2020-03-01', 32817, 10, 45552385), "
    "(21, 2, 201826, DATE '2020-03-02', 32817, 11, 45552385), "
    "(22, 3, 201826, DATE '2020-03-03', 32817, 12, 45552385), "
    "(23, 1, 4163261, DATE '2021-01-10', 32817, 14, 0)",
    "INSERT INTO drug_exposure (drug_exposure_id, person_id, drug_concept_id, drug_exposure_start_date, "
    "drug_exposure_end_date, drug_type_concept_id, visit_occurrence_id) VALUES "
    "(30, 1, 1503297, DATE '2020-03-01', DATE '2020-05-29', 32817, 10), "
    "(31, 2, 1503297, DATE '2020-03-02', DATE '2020-05-30', 32817, 11)",
    "INSERT INTO measurement (measurement_id, person_id, measurement_concept_id, measurement_date, "
    "measurement_type_concept_id, value_as_number, unit_concept_id, visit_occurrence_id) VALUES "
    "(40, 1, 3004410, DATE '2020-03-01', 32817, 7.1, 8554, 10), "
    "(41, 2, 3004410, DATE '2020-03-02', 32817, 6.5, 8554, 11), "
    "(42, 3, 3016723, DATE '2020-03-03', 32817, 1.0, 8840, 12), "
    "(43, 1, 3004410, DATE '2021-01-10', 32817, 6.9, 8554, 14)",
    "INSERT INTO death (person_id, death_date, death_type_concept_id) VALUES (3, DATE '2022-05-01', 32817)",
]


def load_small_cdm(con: duckdb.DuckDBPyConnection) -> None:
    """Create the CDM schema and load the small valid CDM."""
    create_cdm_schema(con)
    for sql in SMALL_CDM_SQL:
        con.execute(sql)


def drop_constraints(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Recreate a table without its PRIMARY KEY / NOT NULL constraints, so that bad rows can go in."""
    con.execute(f"CREATE TABLE loose AS SELECT * FROM {table}")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE loose RENAME TO {table}")
