"""run_checks on a valid CDM, then on copies broken on purpose: the right check fails, by the right count.

The CDM and its helpers come from tests/quality/conftest.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from quality_cdm import drop_constraints

from dari.cdm.store import DuckDbStore
from dari.quality import CheckResult, QualityReport, run_checks


def one(
    report: QualityReport,
    check: str,
    table: str,
    field: str | None = None,
    concept_id: int | None = None,
    unit_concept_id: int | None = None,
) -> CheckResult:
    found = [
        r for r in report.find(check, table, field, concept_id, unit_concept_id) if field is not None or r.field is None
    ]
    assert len(found) == 1, f"{check} {table}.{field}: {len(found)} results"
    return found[0]


def test_run_checks_valid_cdm_passes_or_not_applicable(cdm: DuckDbStore) -> None:
    # Prepare: the fixture's CDM is valid
    # Execute
    report = run_checks(cdm)
    # Assert
    bad = [(r.check_name, r.table, r.field, r.status) for r in report.results if r.status in ("failed", "error")]
    assert bad == []
    assert report.summary.passed > 500
    assert report.summary.overall_score == 100.0
    assert one(report, "plausibleValueHigh", "measurement", "measurement_concept_id", 3004410).status == "passed"
    assert one(report, "plausibleGender", "condition_occurrence", "condition_concept_id", 4163261).status == "passed"


def test_run_checks_duplicate_primary_key_fails_is_primary_key(cdm: DuckDbStore) -> None:
    # Prepare
    drop_constraints(cdm.con, "person")
    cdm.execute(
        "INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
        "ethnicity_concept_id) VALUES (1, 8507, 1951, 8515, 38003564)"
    )
    # Execute
    report = run_checks(cdm)
    # Assert
    result = one(report, "isPrimaryKey", "person", "person_id")
    assert (result.status, result.num_violated_rows, result.num_denominator_rows) == ("failed", 2, 5)
    assert one(report, "isPrimaryKey", "visit_occurrence", "visit_occurrence_id").status == "passed"


def test_run_checks_orphan_person_id_fails_is_foreign_key(cdm: DuckDbStore) -> None:
    # Prepare
    cdm.execute(
        "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, "
        "condition_start_date, condition_type_concept_id) VALUES (99, 999, 201826, DATE '2020-01-01', 32817)"
    )
    # Execute
    report = run_checks(cdm)
    # Assert
    result = one(report, "isForeignKey", "condition_occurrence", "person_id")
    assert (result.status, result.num_violated_rows, result.num_denominator_rows) == ("failed", 1, 5)
    assert one(report, "isForeignKey", "visit_occurrence", "person_id").status == "passed"
    assert one(report, "isForeignKey", "condition_occurrence", "visit_occurrence_id").status == "passed"


def test_run_checks_visit_end_before_start_fails_temporal_after(cdm: DuckDbStore) -> None:
    # Prepare
    cdm.execute("UPDATE visit_occurrence SET visit_end_date = DATE '2020-02-01' WHERE visit_occurrence_id = 10")
    # Execute
    report = run_checks(cdm)
    # Assert
    result = one(report, "plausibleTemporalAfter", "visit_occurrence", "visit_end_date")
    assert (result.status, result.num_violated_rows, result.num_denominator_rows) == ("failed", 1, 5)
    assert result.pct_violated == 20.0
    assert one(report, "plausibleTemporalAfter", "drug_exposure", "drug_exposure_end_date").status == "passed"


def test_run_checks_hba1c_of_45_percent_fails_value_high_only(cdm: DuckDbStore) -> None:
    # Prepare
    cdm.execute("UPDATE measurement SET value_as_number = 45 WHERE measurement_id = 41")
    # Execute
    report = run_checks(cdm)
    # Assert
    high = one(report, "plausibleValueHigh", "measurement", "measurement_concept_id", 3004410)
    assert (high.status, high.num_violated_rows, high.num_denominator_rows) == ("failed", 1, 3)
    assert high.unit_concept_id == 8554
    assert one(report, "plausibleValueLow", "measurement", "measurement_concept_id", 3004410).status == "passed"
    assert one(report, "plausibleValueHigh", "measurement", "measurement_concept_id", 3016723, 8840).status == "passed"


def test_run_checks_event_after_death_fails_during_life(cdm: DuckDbStore) -> None:
    # Prepare: person 3 died 2022-05-01; the grace period is 60 days
    cdm.execute(
        "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, "
        "condition_start_date, condition_type_concept_id) VALUES "
        "(98, 3, 201826, DATE '2023-01-01', 32817), (97, 3, 201826, DATE '2022-06-15', 32817)"
    )
    # Execute
    report = run_checks(cdm)
    # Assert
    result = one(report, "plausibleDuringLife", "condition_occurrence", "condition_start_date")
    assert (result.status, result.num_violated_rows, result.num_denominator_rows) == ("failed", 1, 3)
    assert one(report, "plausibleDuringLife", "measurement", "measurement_date").status == "passed"


def test_run_checks_null_in_required_field_fails_is_required(cdm: DuckDbStore) -> None:
    # Prepare
    drop_constraints(cdm.con, "visit_occurrence")
    cdm.execute("UPDATE visit_occurrence SET visit_concept_id = NULL WHERE visit_occurrence_id IN (11, 12)")
    # Execute
    report = run_checks(cdm)
    # Assert
    result = one(report, "isRequired", "visit_occurrence", "visit_concept_id")
    assert (result.status, result.num_violated_rows, result.num_denominator_rows) == ("failed", 2, 5)
    assert one(report, "isRequired", "visit_occurrence", "visit_start_date").status == "passed"


def test_run_checks_dropped_table_fails_cdm_table_and_run_completes(cdm: DuckDbStore) -> None:
    # Prepare
    cdm.execute("DROP TABLE drug_exposure")
    # Execute
    report = run_checks(cdm)
    # Assert
    assert one(report, "cdmTable", "drug_exposure").status == "failed"
    others = [r for r in report.results if r.table == "drug_exposure" and r.check_name != "cdmTable"]
    assert others and all(r.status == "not_applicable" for r in others)
    assert "does not exist" in (others[0].not_applicable_reason or "")
    assert one(report, "cdmTable", "measurement").status == "passed"
    assert one(report, "isRequired", "measurement", "measurement_date").status == "passed"


def test_run_checks_condition_coded_as_drug_fails_fk_domain(cdm: DuckDbStore) -> None:
    # Prepare
    cdm.execute("UPDATE condition_occurrence SET condition_concept_id = 1503297 WHERE condition_occurrence_id = 21")
    # Execute
    report = run_checks(cdm)
    # Assert
    result = one(report, "fkDomain", "condition_occurrence", "condition_concept_id")
    assert (result.status, result.num_violated_rows, result.num_denominator_rows) == ("failed", 1, 4)
    assert one(report, "isForeignKey", "condition_occurrence", "condition_concept_id").status == "passed"
    assert one(report, "fkDomain", "drug_exposure", "drug_concept_id").status == "passed"


def test_run_checks_non_standard_and_zero_concepts_counted_apart(cdm: DuckDbStore) -> None:
    # Prepare: one ICD10 (non-standard) concept, one 0 and one unknown id in condition_concept_id
    cdm.execute("UPDATE condition_occurrence SET condition_concept_id = 45552385 WHERE condition_occurrence_id = 20")
    cdm.execute("UPDATE condition_occurrence SET condition_concept_id = 0 WHERE condition_occurrence_id = 21")
    cdm.execute("UPDATE condition_occurrence SET condition_concept_id = 777 WHERE condition_occurrence_id = 22")
    # Execute
    report = run_checks(cdm)
    # Assert
    field = ("condition_occurrence", "condition_concept_id")
    assert one(report, "isStandardValidConcept", *field).num_violated_rows == 1
    assert one(report, "standardConceptRecordCompleteness", *field).num_violated_rows == 1
    assert one(report, "isForeignKey", *field).num_violated_rows == 1


def test_run_checks_implausible_gender_and_birth_year_fail(cdm: DuckDbStore) -> None:
    # Prepare: prostate cancer for a woman; a person born in 1850
    cdm.execute("UPDATE condition_occurrence SET person_id = 2 WHERE condition_occurrence_id = 23")
    cdm.execute("UPDATE person SET year_of_birth = 1850 WHERE person_id = 4")
    # Execute
    report = run_checks(cdm)
    # Assert
    gender = one(report, "plausibleGender", "condition_occurrence", "condition_concept_id", 4163261)
    assert (gender.status, gender.num_violated_rows) == ("failed", 1)
    birth = one(report, "plausibleYearOfBirth", "person", "year_of_birth")
    assert (birth.status, birth.num_violated_rows, birth.num_denominator_rows) == ("failed", 1, 4)


def test_run_checks_event_outside_observation_and_person_without_period_fail(cdm: DuckDbStore) -> None:
    # Prepare
    cdm.execute("DELETE FROM observation_period WHERE person_id = 4")
    # Execute
    report = run_checks(cdm)
    # Assert
    assert one(report, "personHasObservationPeriod", "person", "person_id").num_violated_rows == 1
    visits = one(report, "withinObservationPeriod", "visit_occurrence", "visit_start_date")
    assert (visits.status, visits.num_violated_rows, visits.num_denominator_rows) == ("failed", 1, 5)
    assert one(report, "withinObservationPeriod", "drug_exposure", "drug_exposure_start_date").status == "passed"


def test_run_checks_without_concept_table_skips_concept_checks(cdm: DuckDbStore) -> None:
    # Prepare
    cdm.execute("DROP TABLE concept")
    # Execute
    report = run_checks(cdm)
    # Assert
    for check in ("fkDomain", "isStandardValidConcept", "plausibleGender"):
        statuses = {r.status for r in report.results if r.check_name == check}
        assert statuses == {"not_applicable"}, check
    assert one(report, "isForeignKey", "condition_occurrence", "condition_concept_id").status == "not_applicable"
    assert one(report, "isRequired", "person", "year_of_birth").status == "passed"
    assert report.summary.error == 0


def test_run_checks_varchar_integer_field_fails_datatype(cdm: DuckDbStore) -> None:
    # Prepare: a database that stores an integer field as text, as some loaders do
    cdm.execute("ALTER TABLE visit_occurrence ALTER COLUMN visit_source_value TYPE VARCHAR")
    cdm.execute("ALTER TABLE visit_occurrence ALTER COLUMN care_site_id TYPE VARCHAR")
    cdm.execute("UPDATE visit_occurrence SET care_site_id = '12.5' WHERE visit_occurrence_id = 10")
    cdm.execute("UPDATE visit_occurrence SET care_site_id = '-7' WHERE visit_occurrence_id = 11")
    # Execute
    report = run_checks(cdm)
    # Assert
    result = one(report, "cdmDatatype", "visit_occurrence", "care_site_id")
    assert (result.status, result.num_violated_rows, result.num_denominator_rows) == ("failed", 1, 2)
    assert one(report, "cdmDatatype", "visit_occurrence", "person_id").status == "passed"


class _Failing:
    """A store that fails every query mentioning one field, as a broken engine or odd schema would."""

    def __init__(self, inner: DuckDbStore, poison: str) -> None:
        self.inner, self.poison = inner, poison
        self.dialect, self.label = inner.dialect, inner.label

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        if self.poison in sql:
            raise RuntimeError("Conversion Error: Could not convert string 'KIM MINJI 19800101' to INT32")
        return self.inner.query(sql, params)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.inner.execute(sql, params)

    def table_columns(self) -> dict[str, set[str]]:
        return self.inner.table_columns()

    def close(self) -> None:
        self.inner.close()


def test_run_checks_query_error_is_recorded_redacted_and_isolated(cdm: DuckDbStore) -> None:
    # Prepare
    store = _Failing(cdm, '"visit_end_date"')
    # Execute
    report = run_checks(store)
    # Assert
    errors = [r for r in report.results if r.status == "error"]
    assert errors and all(r.field == "visit_end_date" or "visit_end_date" in r.description for r in errors)
    assert "KIM" not in report.to_json() and "19800101" not in report.to_json()
    assert one(report, "isRequired", "visit_occurrence", "visit_start_date").status == "passed"
    assert report.summary.error == len(errors)


def test_run_checks_user_thresholds_override_builtin(cdm: DuckDbStore, tmp_path: Path) -> None:
    # Prepare: 1 of 5 visits ends before it starts (20%); a user allows 25%, and HbA1c up to 50 %
    cdm.execute("UPDATE visit_occurrence SET visit_end_date = DATE '2020-02-01' WHERE visit_occurrence_id = 10")
    cdm.execute("UPDATE measurement SET value_as_number = 45 WHERE measurement_id = 41")
    path = tmp_path / "thresholds.csv"
    path.write_text(
        "check_name,table,field,vocabulary_id,concept_code,unit_code,threshold,plausible_value_low,"
        "plausible_value_high\n"
        "plausibleTemporalAfter,visit_occurrence,visit_end_date,,,,25,,\n"
        "plausibleValueHigh,measurement,measurement_concept_id,LOINC,4548-4,%,,3,50\n"
    )
    # Execute
    default = run_checks(cdm)
    custom = run_checks(cdm, thresholds_file=path)
    # Assert
    args = ("plausibleTemporalAfter", "visit_occurrence", "visit_end_date")
    assert one(default, *args).status == "failed"
    assert (one(custom, *args).status, one(custom, *args).threshold) == ("passed", 25.0)
    hba1c = ("plausibleValueHigh", "measurement", "measurement_concept_id", 3004410)
    assert (one(default, *hba1c).status, one(custom, *hba1c).status) == ("failed", "passed")
    assert len(custom.results) == len(default.results)


def test_run_checks_user_checks_file_limits_checks(cdm: DuckDbStore, tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "checks.csv"
    path.write_text(
        "check_name,level,kahn_context,kahn_category,kahn_subcategory,severity,applies_to,"
        "sql_template,description\n"
        "isRequired,field,Verification,Completeness,,fatal,required_fields,is_null,NULL in {field}\n"
    )
    # Execute
    report = run_checks(cdm, checks_file=path)
    # Assert
    assert {r.check_name for r in report.results} == {"isRequired"}
    assert one(report, "isRequired", "person", "year_of_birth").description == "NULL in year_of_birth"


def test_run_checks_progress_reaches_total(cdm: DuckDbStore) -> None:
    # Prepare
    seen: list[tuple[int, int]] = []
    # Execute
    report = run_checks(cdm, progress=lambda done, total: seen.append((done, total)))
    # Assert
    assert seen[-1] == (len(report.results), len(report.results))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("table", ["concept", "measurement"])
def test_run_checks_empty_table_not_applicable(cdm: DuckDbStore, table: str) -> None:
    # Prepare
    cdm.execute(f"DELETE FROM {table}")
    # Execute
    report = run_checks(cdm)
    # Assert
    assert (
        one(report, "isRequired", table, f"{table}_id" if table == "measurement" else "concept_id").status
        == "not_applicable"
    )
    assert report.summary.failed == 0 and report.summary.error == 0


def test_run_checks_missing_column_fails_cdm_field_only(cdm: DuckDbStore) -> None:
    # Prepare: a CDM from another tool that lacks a v5.4 column
    cdm.execute("ALTER TABLE visit_occurrence DROP COLUMN admitted_from_concept_id")
    # Execute
    report = run_checks(cdm)
    # Assert
    field = ("visit_occurrence", "admitted_from_concept_id")
    assert one(report, "cdmField", *field).status == "failed"
    assert one(report, "isForeignKey", *field).status == "not_applicable"
    assert one(report, "cdmField", "visit_occurrence", "visit_end_date").status == "passed"
    assert report.summary.failed == 1 and report.summary.error == 0
