"""The check catalogue and thresholds as data, and the SQL templates they name."""

from __future__ import annotations

from pathlib import Path

import pytest

from dari.errors import InputError
from dari.quality.catalog import ConceptKey, load_check_descriptions, load_thresholds
from dari.quality.plan import SELECTORS, build_plan
from dari.quality.sql import TEMPLATES, identifiers, render


def test_load_check_descriptions_builtin_covers_kahn_categories() -> None:
    # Prepare / Execute
    checks = load_check_descriptions()
    # Assert
    assert {c.kahn_category for c in checks} == {"Conformance", "Completeness", "Plausibility"}
    assert all(c.sql_template in TEMPLATES for c in checks)
    assert {"cdmTable", "isPrimaryKey", "fkDomain", "plausibleValueHigh", "plausibleGender"} <= {
        c.check_name for c in checks
    }


def test_load_check_descriptions_unknown_template_raises_input_error(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "checks.csv"
    path.write_text(
        "check_name,level,kahn_context,kahn_category,kahn_subcategory,severity,applies_to,"
        "sql_template,description\nx,field,Verification,Completeness,,fatal,fields,drop_table,d\n"
    )
    # Execute / Assert
    with pytest.raises(InputError, match="sql_template"):
        load_check_descriptions(path)


def test_load_check_descriptions_unknown_target_raises_input_error(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "checks.csv"
    path.write_text(
        "check_name,level,kahn_context,kahn_category,kahn_subcategory,severity,applies_to,"
        "sql_template,description\nx,field,Verification,Completeness,,fatal,person.nope,is_null,d\n"
    )
    # Execute / Assert
    with pytest.raises(InputError, match="applies_to"):
        load_check_descriptions(path)


def test_load_thresholds_user_row_replaces_same_key_and_adds_new(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "t.csv"
    path.write_text(
        "check_name,table,field,concept_id,unit_concept_id,threshold,plausible_value_low\n"
        "isRequired,,,,,3,\nplausibleValueLow,measurement,measurement_concept_id,123,456,,7\n"
    )
    builtin = load_thresholds()
    # Execute
    merged = load_thresholds(path)
    # Assert
    required = [r for r in merged if r.check_name == "isRequired" and not r.table]
    assert [r.threshold for r in required] == [3.0]
    added = [r for r in merged if r.concept == ConceptKey(concept_id=123)]
    assert len(added) == 1 and added[0].unit == ConceptKey(concept_id=456) and added[0].plausible_value_low == 7
    assert len(merged) == len(builtin) + 1


def test_load_thresholds_non_cdm_field_raises_input_error(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "t.csv"
    path.write_text("check_name,table,field,threshold\nisRequired,person,shoe_size,1\n")
    # Execute / Assert
    with pytest.raises(InputError, match="shoe_size"):
        load_thresholds(path)


def test_load_thresholds_builtin_keys_lab_ranges_by_loinc_code() -> None:
    # Prepare / Execute
    rows = load_thresholds()
    # Assert
    hba1c = [
        r
        for r in rows
        if r.check_name == "plausibleValueHigh"
        and r.concept == ConceptKey(vocabulary_id="LOINC", concept_code="4548-4")
    ]
    assert [(r.unit, r.plausible_value_high) for r in hba1c] == [
        (ConceptKey(vocabulary_id="UCUM", concept_code="%"), 20.0)
    ]


def test_build_plan_enumerates_fields_from_cdm_table() -> None:
    # Prepare
    plan = build_plan(load_check_descriptions(), load_thresholds())
    # Execute
    fk = {(p.target.table, p.target.field, p.target.fk_table) for p in plan if p.check.check_name == "isForeignKey"}
    temporal = {
        (p.target.table, p.target.field, p.target.other_field)
        for p in plan
        if p.check.sql_template == "end_before_start"
    }
    domains = {p.target.field: p.values["domains"] for p in plan if p.check.check_name == "fkDomain"}
    # Assert
    assert ("visit_occurrence", "person_id", "person") in fk
    assert ("condition_occurrence", "visit_occurrence_id", "visit_occurrence") in fk
    assert ("procedure_occurrence", "procedure_end_date", "procedure_date") in temporal
    assert ("drug_exposure", "drug_exposure_end_date", "drug_exposure_start_date") in temporal
    assert domains["condition_concept_id"] == ("Condition",)
    assert domains["visit_type_concept_id"] == ("Type_Concept", "Type Concept")
    assert set(SELECTORS) >= {c.applies_to for c in load_check_descriptions() if "." not in c.applies_to}


def test_identifiers_non_cdm_name_raises_value_error() -> None:
    # Prepare
    slots = {"table": "person", "field": 'person_id"; DROP TABLE person; --'}
    # Execute / Assert
    with pytest.raises(ValueError, match="not a CDM field"):
        identifiers(slots)


def test_render_binds_values_and_expands_tuples() -> None:
    # Prepare
    idents = identifiers({"table": "measurement", "field": "measurement_concept_id"})
    # Execute
    sql, params = render(
        "t.{field} = {p_concept_id} AND u IN ({p_units})", idents, {"concept_id": 5, "units": (1, 2, 3)}
    )
    # Assert
    assert sql == 't."measurement_concept_id" = ? AND u IN (?, ?, ?)'
    assert params == [5, 1, 2, 3]
