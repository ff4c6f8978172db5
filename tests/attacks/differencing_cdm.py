"""A 40-person OMOP CDM in DuckDB for the differencing attacks: one person per age from 40 to 79 at index.

Every person has type 2 diabetes first recorded on 2020-06-01 (index), observation 2010–2022, an eGFR on
2020-05-01 of 30 + (7·id mod 60) mL/min/1.73m², and hypertension when id is a multiple of 3. Person id k is
aged 39 + k at index, so `cohort(min_age, max_age)` selects a known run of persons and the attacker's
arithmetic can be checked against the truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from dari.cdm.store import create_cdm_schema
from dari.cohort import parse_definition, parse_table_one_request
from dari.cohort.definition import CohortDefinition
from dari.cohort.request import TableOneRequest

M, F, EHR = 2000010001, 2000010002, 2000010006
T2DM, HTN, EGFR, U_EGFR = 2000100007, 2000100010, 2000400004, 2000500004
CONCEPTS = [
    (M, "MALE", "Gender", "Gender", "Gender", "S", "M"),
    (F, "FEMALE", "Gender", "Gender", "Gender", "S", "F"),
    (EHR, "EHR", "Type Concept", "Type Concept", "Type Concept", "S", "OMOP4976890"),
    (T2DM, "Type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S", "44054006"),
    (HTN, "Hypertensive disorder", "Condition", "SNOMED", "Clinical Finding", "S", "38341003"),
    (EGFR, "eGFR (CKD-EPI 2021)", "Measurement", "LOINC", "Lab Test", "S", "98979-8"),
    (U_EGFR, "mL/min/1.73m2", "Unit", "UCUM", "Unit", "S", "mL/min/{1.73_m2}"),
]
PERSONS = 40


def age(pid: int) -> int:
    """Age at index of person `pid`."""
    return 39 + pid


def egfr(pid: int) -> float:
    """eGFR of person `pid`."""
    return 30.0 + (7 * pid) % 60


def build_cdm(path: Path) -> Path:
    """Write the CDM to a DuckDB file and return its path."""
    con = duckdb.connect(str(path))
    create_cdm_schema(con)
    for cid, name, domain, vocab, cls, std, code in CONCEPTS:
        con.execute(
            "INSERT INTO concept VALUES (?, ?, ?, ?, ?, ?, ?, DATE '1970-01-01', DATE '2099-12-31', NULL)",
            [cid, name, domain, vocab, cls, std, code],
        )
        con.execute("INSERT INTO concept_ancestor VALUES (?, ?, 0, 0)", [cid, cid])
    for pid in range(1, PERSONS + 1):
        con.execute(
            "INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id) "
            "VALUES (?, ?, ?, 0, 0)",
            [pid, F if pid % 2 else M, 2020 - age(pid)],
        )
        con.execute("INSERT INTO observation_period VALUES (?, ?, '2010-01-01', '2022-12-31', ?)", [pid, pid, EHR])
        conditions = [(T2DM, "2020-06-01")] + ([(HTN, "2018-01-01")] if pid % 3 == 0 else [])
        for k, (cid, day) in enumerate(conditions):
            con.execute(
                "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, "
                "condition_start_date, condition_type_concept_id) VALUES (?, ?, ?, ?, ?)",
                [pid * 10 + k, pid, cid, day, EHR],
            )
        con.execute(
            "INSERT INTO measurement (measurement_id, person_id, measurement_concept_id, measurement_date, "
            "measurement_type_concept_id, value_as_number, unit_concept_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [pid, pid, EGFR, "2020-05-01", EHR, egfr(pid), U_EGFR],
        )
    con.close()
    return path


def _set(id_: str, code: str) -> dict[str, Any]:
    return {"id": id_, "items": [{"vocabulary_id": "SNOMED" if id_ != "egfr" else "LOINC", "concept_code": code}]}


def cohort(
    min_age: int | None = None, max_age: int | None = None, *, name: str = "T2DM", no_htn: bool = False
) -> CohortDefinition:
    """Persons with T2DM aged min_age..max_age at index (optionally: without hypertension up to index)."""
    rules = [
        {
            "name": "no hypertension up to index",
            "domain": "condition_occurrence",
            "concept_set": "htn",
            "window": {"start_days": None, "end_days": 0},
            "occurrence": {"type": "exactly", "count": 0},
        }
    ]
    age_range = {k: v for k, v in (("min", min_age), ("max", max_age)) if v is not None}
    return parse_definition(
        {
            "name": name,
            "concept_sets": [_set("t2dm", "44054006"), _set("htn", "38341003")],
            "index": {
                "domain": "condition_occurrence",
                "concept_set": "t2dm",
                "occurrence": "first",
                **({"age": age_range} if age_range else {}),
                "observation_window": {"prior_days": 365, "post_days": 0},
            },
            "inclusion_rules": rules if no_htn else [],
            "exit": {"type": "fixed_offset", "days": 365},
        }
    )


def table_one_request() -> TableOneRequest:
    """Age (1-year bins), sex, hypertension, and the latest eGFR (1-unit bins) at index."""
    return parse_table_one_request(
        {
            "concept_sets": [_set("htn", "38341003"), _set("egfr", "98979-8")],
            "comorbidities": [{"name": "hypertension", "concept_set": "htn"}],
            "labs": [{"name": "eGFR", "concept_set": "egfr", "bin_width": 1}],
            "age_bin_width": 1,
        }
    )
