"""The OMOP CDM v5.4 DDL: tables, OHDSI column names and types, executable on DuckDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import psycopg
import pytest

from dari.cdm.schema import cdm_tables, create_table_sql, ddl
from dari.cdm.store import create_cdm_schema

FOUNDATION_TABLES = {
    "person",
    "observation_period",
    "visit_occurrence",
    "visit_detail",
    "condition_occurrence",
    "drug_exposure",
    "procedure_occurrence",
    "device_exposure",
    "measurement",
    "observation",
    "note",
    "death",
    "location",
    "care_site",
    "provider",
    "cdm_source",
    "concept",
    "vocabulary",
    "domain",
    "concept_class",
    "concept_relationship",
    "concept_ancestor",
    "concept_synonym",
}
SPOT_COLUMNS = {
    ("measurement", "value_as_number"): "NUMERIC",
    ("measurement", "measurement_concept_id"): "INTEGER",
    ("note_nlp", "offset"): "VARCHAR",
    ("cdm_source", "vocabulary_version"): "VARCHAR",
    ("person", "year_of_birth"): "INTEGER",
    ("drug_exposure", "drug_exposure_start_date"): "DATE",
    ("concept", "valid_start_date"): "DATE",
    ("visit_occurrence", "visit_start_datetime"): "TIMESTAMP",
    ("note", "note_text"): "VARCHAR",
    ("episode", "episode_number"): "INTEGER",
}


def test_cdm_tables_has_39_tables_including_foundation_set() -> None:
    # Prepare / Execute
    tables = cdm_tables()
    # Assert
    assert len(tables) == 39
    assert set(tables) >= FOUNDATION_TABLES
    assert {
        "note_nlp",
        "specimen",
        "fact_relationship",
        "payer_plan_period",
        "cost",
        "drug_era",
        "dose_era",
        "condition_era",
        "episode",
        "episode_event",
        "metadata",
        "cohort",
        "cohort_definition",
        "relationship",
        "source_to_concept_map",
        "drug_strength",
    } <= set(tables)


def test_ddl_executes_on_duckdb_with_ohdsi_columns() -> None:
    # Prepare
    con = duckdb.connect()
    # Execute
    create_cdm_schema(con, primary_keys=True)
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall()
    con.close()
    # Assert
    columns = {(t, c): ty for t, c, ty in rows}
    assert {t for t, _ in columns} == set(cdm_tables())
    for key, sql_type in SPOT_COLUMNS.items():
        assert columns[key].startswith("DECIMAL" if sql_type == "NUMERIC" else sql_type), key
    assert len(columns) == sum(len(t.fields) for t in cdm_tables().values())


def test_ddl_primary_keys_only_when_asked() -> None:
    # Prepare
    person = cdm_tables()["person"]
    # Execute
    with_pk = create_table_sql(person, "duckdb")
    without_pk = create_table_sql(person, "duckdb", primary_keys=False)
    # Assert
    assert 'PRIMARY KEY ("person_id")' in with_pk
    assert "PRIMARY KEY" not in without_pk
    assert '"person_id" INTEGER NOT NULL' in without_pk


def test_ddl_quotes_keyword_columns_for_postgresql() -> None:
    # Prepare / Execute
    statements = ddl("postgresql", "cdm")
    # Assert
    note_nlp = next(s for s in statements if s.startswith('CREATE TABLE "cdm"."note_nlp"'))
    assert '"offset" VARCHAR(50)' in note_nlp
    assert len(statements) == 39


@pytest.mark.postgres
def test_ddl_executes_on_postgresql_in_fresh_schema(
    pg: psycopg.Connection[tuple[Any, ...]], pg_schema: Callable[[], str]
) -> None:
    # Prepare
    schema = pg_schema()
    pg.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[arg-type]
    # Execute
    for statement in ddl("postgresql", schema):
        pg.execute(statement)  # type: ignore[arg-type]
    rows = pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s", [schema]
    ).fetchall()
    # Assert
    columns = {(t, c) for t, c in rows}
    assert {t for t, _ in columns} == set(cdm_tables())
    assert set(SPOT_COLUMNS) <= columns
