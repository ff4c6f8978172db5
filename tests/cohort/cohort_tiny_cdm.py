"""A hand-checkable OMOP CDM of eight persons, and the cohort definitions whose counts are worked out below.

Local concept ids (> 2e9) as dari sites have them; codes are the real SNOMED / KCD8 / RxNorm / ATC / LOINC / UCUM
codes. Worked example for `definition()` (first T2DM with descendants, ≥ 365 days prior observation, age ≥ 18,
metformin on days 0..90, no type 1 diabetes up to day 0):

  P1 F 1960  first T2DM 2020-03-01 (a descendant concept), metformin day 0 and day 100  -> in the cohort (age 60)
  P2 M 1950  T2DM 2020-01-01 but observed only from 2019-06-01                          -> out: observation window
  P3 F 2005  T2DM 2020-05-01 at age 15                                                   -> out: age
  P4 M 1970  T2DM 2019-01-01, metformin on day 91 (and once before observation began)    -> out: metformin
  P5 M 1980  T2DM 2019-01-01, metformin on day 90, type 1 diabetes on day 0              -> out: type 1 diabetes
  P6 F 1975  hypertension only                                                           -> never indexed
  P7 F 1990  first T2DM 2009-06-01, before observation (2010-01-01); again 2016-01-01    -> indexed only with "all"
  P8 M 1955  T2DM 2021-01-01, metformin twice on day 0 and on day 31                     -> in the cohort (age 66)

Attrition: 6 indexed (P1-P5, P8) -> 5 window -> 4 age -> 3 metformin -> 2 no T1DM.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import duckdb

from dari.cdm.store import create_cdm_schema

M, F = 2000010001, 2000010002
EHR = 2000010006
DM, T1DM, T2DM, T2DM_WO, HTN = 2000100005, 2000100006, 2000100007, 2000100008, 2000100010
KCD_E10, KCD_E11 = 2001000001, 2001000003
METFORMIN, ATC_A10BA = 2000300001, 2001100006
EGFR = 2000400004
U_EGFR, U_MGDL = 2000500004, 2000500002

CONCEPTS = [
    (M, "MALE", "Gender", "Gender", "Gender", "S", "M"),
    (F, "FEMALE", "Gender", "Gender", "Gender", "S", "F"),
    (EHR, "EHR", "Type Concept", "Type Concept", "Type Concept", "S", "OMOP4976890"),
    (DM, "Diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S", "73211009"),
    (T1DM, "Type 1 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S", "46635009"),
    (T2DM, "Type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S", "44054006"),
    (
        T2DM_WO,
        "Type 2 diabetes mellitus without complication",
        "Condition",
        "SNOMED",
        "Clinical Finding",
        "S",
        "313436004",
    ),
    (HTN, "Hypertensive disorder", "Condition", "SNOMED", "Clinical Finding", "S", "38341003"),
    (KCD_E10, "Type 1 diabetes mellitus", "Condition", "KCD8", "KCD8 3-char", None, "E10"),
    (KCD_E11, "Type 2 diabetes mellitus", "Condition", "KCD8", "KCD8 3-char", None, "E11"),
    (METFORMIN, "metformin", "Drug", "RxNorm", "Ingredient", "S", "6809"),
    (ATC_A10BA, "Biguanides", "Drug", "ATC", "ATC 4th", "C", "A10BA"),
    (EGFR, "eGFR (CKD-EPI 2021)", "Measurement", "LOINC", "Lab Test", "S", "98979-8"),
    (U_EGFR, "mL/min/1.73m2", "Unit", "UCUM", "Unit", "S", "mL/min/{1.73_m2}"),
    (U_MGDL, "milligram per deciliter", "Unit", "UCUM", "Unit", "S", "mg/dL"),
]
STANDARD = [c[0] for c in CONCEPTS if c[5] is not None]
ANCESTRY = [(DM, T2DM, 1), (DM, T2DM_WO, 2), (DM, T1DM, 1), (T2DM, T2DM_WO, 1), (ATC_A10BA, METFORMIN, 1)]
MAPS_TO = [(KCD_E11, T2DM)]  # KCD8 E10 deliberately has no mapping

PERSONS = [
    (1, F, 1960),
    (2, M, 1950),
    (3, F, 2005),
    (4, M, 1970),
    (5, M, 1980),
    (6, F, 1975),
    (7, F, 1990),
    (8, M, 1955),
]
OBSERVATION = {1: ("2018-01-01", "2022-12-31"), 2: ("2019-06-01", "2022-12-31"), 3: ("2015-01-01", "2022-12-31")}
CONDITIONS = [
    (1, T2DM_WO, "2020-03-01"),
    (1, T2DM, "2020-09-01"),
    (1, HTN, "2021-01-01"),
    (2, T2DM, "2020-01-01"),
    (3, T2DM, "2020-05-01"),
    (4, T2DM, "2019-01-01"),
    (5, T2DM, "2019-01-01"),
    (5, T1DM, "2019-01-01"),
    (6, HTN, "2015-01-01"),
    (7, T2DM, "2009-06-01"),
    (7, T2DM, "2016-01-01"),
    (8, T2DM, "2021-01-01"),
    (8, HTN, "2020-01-01"),
]
DRUGS = [
    (1, "2020-03-01"),
    (1, "2020-06-09"),
    (2, "2020-01-10"),
    (3, "2020-05-01"),
    (4, "2009-12-01"),
    (4, "2019-04-02"),
    (5, "2019-04-01"),
    (7, "2016-02-01"),
    (8, "2021-01-01"),
    (8, "2021-01-01"),
    (8, "2021-02-01"),
]
# (measurement_id, person, date, value, unit)
MEASUREMENTS = [
    (1, 1, "2020-02-01", 45.0, U_EGFR),
    (2, 1, "2020-02-20", 50.0, U_EGFR),
    (3, 1, "2020-02-25", 70.0, U_MGDL),
    (4, 8, "2020-12-01", 58.0, U_EGFR),
    (5, 8, "2021-01-01", 40.0, U_EGFR),
    (6, 8, "2021-01-01", 41.0, U_EGFR),
]


def build_tiny_cdm(path: Path, *, with_ancestors: bool = True) -> Path:
    """Write the tiny CDM to a DuckDB file and return its path."""
    con = duckdb.connect(str(path))
    create_cdm_schema(con)
    for cid, name, domain, vocab, cls, std, code in CONCEPTS:
        con.execute(
            "INSERT INTO concept VALUES (?, ?, ?, ?, ?, ?, ?, DATE '1970-01-01', DATE '2099-12-31', NULL)",
            [cid, name, domain, vocab, cls, std, code],
        )
    if with_ancestors:
        for cid in STANDARD:
            con.execute("INSERT INTO concept_ancestor VALUES (?, ?, 0, 0)", [cid, cid])
        for anc, desc, level in ANCESTRY:
            con.execute("INSERT INTO concept_ancestor VALUES (?, ?, ?, ?)", [anc, desc, level, level])
    for src, dst in MAPS_TO:
        con.execute(
            "INSERT INTO concept_relationship VALUES (?, ?, 'Maps to', DATE '1970-01-01', DATE '2099-12-31', NULL)",
            [src, dst],
        )
    for pid, gender, year in PERSONS:
        con.execute(
            "INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id) "
            "VALUES (?, ?, ?, 0, 0)",
            [pid, gender, year],
        )
        start, end = OBSERVATION.get(pid, ("2010-01-01", "2022-12-31"))
        con.execute("INSERT INTO observation_period VALUES (?, ?, ?, ?, ?)", [pid, pid, start, end, EHR])
    for i, (pid, cid, day) in enumerate(CONDITIONS, start=1):
        con.execute(
            "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, "
            "condition_start_date, condition_type_concept_id) VALUES (?, ?, ?, ?, ?)",
            [i, pid, cid, day, EHR],
        )
    for i, (pid, day) in enumerate(DRUGS, start=1):
        con.execute(
            "INSERT INTO drug_exposure (drug_exposure_id, person_id, drug_concept_id, drug_exposure_start_date, "
            "drug_exposure_end_date, drug_type_concept_id) VALUES (?, ?, ?, ?, ?, ?)",
            [i, pid, METFORMIN, day, day, EHR],
        )
    for mid, pid, day, value, unit in MEASUREMENTS:
        con.execute(
            "INSERT INTO measurement (measurement_id, person_id, measurement_concept_id, measurement_date, "
            "measurement_type_concept_id, value_as_number, unit_concept_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [mid, pid, EGFR, day, EHR, value, unit],
        )
    con.close()
    return path


def item(vocabulary: str, code: str, *, descendants: bool = False, exclude: bool = False) -> dict[str, Any]:
    """A concept set item as JSON."""
    return {"vocabulary_id": vocabulary, "concept_code": code, "include_descendants": descendants, "exclude": exclude}


DEFINITION: dict[str, Any] = {
    "name": "tiny T2DM on metformin",
    "concept_sets": [
        {"id": "t2dm", "items": [item("SNOMED", "44054006", descendants=True)]},
        {"id": "t1dm", "items": [item("SNOMED", "46635009", descendants=True)]},
        {"id": "metformin", "items": [item("ATC", "A10BA", descendants=True)]},
        {"id": "egfr", "items": [item("LOINC", "98979-8")]},
        {"id": "htn", "items": [item("SNOMED", "38341003", descendants=True)]},
    ],
    "index": {
        "domain": "condition_occurrence",
        "concept_set": "t2dm",
        "occurrence": "first",
        "age": {"min": 18},
        "observation_window": {"prior_days": 365, "post_days": 0},
    },
    "inclusion_rules": [
        {
            "name": "metformin days 0-90",
            "domain": "drug_exposure",
            "concept_set": "metformin",
            "window": {"start_days": 0, "end_days": 90},
            "occurrence": {"type": "at_least", "count": 1},
        },
        {
            "name": "no type 1 diabetes up to index",
            "domain": "condition_occurrence",
            "concept_set": "t1dm",
            "window": {"start_days": None, "end_days": 0},
            "occurrence": {"type": "exactly", "count": 0},
        },
    ],
    "exit": {"type": "fixed_offset", "days": 365},
}


def definition(**changes: Any) -> dict[str, Any]:
    """A deep copy of DEFINITION with top-level keys replaced."""
    out = copy.deepcopy(DEFINITION)
    out.update(copy.deepcopy(changes))
    return out


# A Table 1 request over the tiny CDM: cohort P1 and P8; worked values in test_cohort_table_one.
UNIT = {"vocabulary_id": "UCUM", "concept_code": "mL/min/{1.73_m2}"}
REQUEST: dict[str, Any] = {
    "concept_sets": [
        {"id": "htn", "items": [{"vocabulary_id": "SNOMED", "concept_code": "38341003", "include_descendants": True}]},
        {"id": "egfr", "items": [{"vocabulary_id": "LOINC", "concept_code": "98979-8"}]},
    ],
    "comorbidities": [
        {"name": "hypertension up to index", "concept_set": "htn"},
        {"name": "hypertension any time", "concept_set": "htn", "window": {"start_days": None, "end_days": None}},
    ],
    "labs": [
        {"name": "eGFR", "concept_set": "egfr", "unit": UNIT, "bin_width": 5},
        {"name": "eGFR any unit", "concept_set": "egfr"},
        {"name": "eGFR after index", "concept_set": "egfr", "window": {"start_days": 1, "end_days": None}},
    ],
    "age_bin_width": 5,
}
