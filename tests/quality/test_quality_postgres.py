"""The same checks, unchanged SQL, on PostgreSQL: results must equal DuckDB's on the same small CDM."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import duckdb
import psycopg
import pytest
from quality_cdm import SMALL_CDM_SQL, load_small_cdm

from dari.cdm.schema import ddl, quote_ident
from dari.cdm.store import DuckDbStore, open_store
from dari.quality import QualityReport, run_checks

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
BREAKS = [
    "UPDATE visit_occurrence SET visit_end_date = DATE '2020-02-01' WHERE visit_occurrence_id = 10",
    "UPDATE measurement SET value_as_number = 45 WHERE measurement_id = 41",
    "UPDATE condition_occurrence SET condition_concept_id = 1503297 WHERE condition_occurrence_id = 21",
    "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, "
    "condition_start_date, condition_type_concept_id) VALUES (98, 3, 201826, DATE '2023-01-01', 32817)",
    "INSERT INTO drug_exposure (drug_exposure_id, person_id, drug_concept_id, drug_exposure_start_date, "
    "drug_exposure_end_date, drug_type_concept_id) VALUES (39, 999, 1503297, DATE '2020-01-01', "
    "DATE '2020-01-02', 32817)",
]


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, uniquely named schema on the test server, dropped afterwards; skip loudly if no server."""
    try:
        con = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"NO POSTGRESQL SERVER at {PG_URL}: PostgreSQL quality checks NOT TESTED ({exc})"
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    schema = f"dq_test_{uuid.uuid4().hex[:12]}"
    try:
        con.execute(f"CREATE SCHEMA {quote_ident(schema)}")
        yield schema
    finally:
        con.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
        con.close()


def _load_pg(schema: str, extra: list[str]) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(f"SET search_path TO {quote_ident(schema)}")
        for sql in [*ddl("postgresql", schema), *SMALL_CDM_SQL, *extra]:
            con.execute(sql.encode())  # bytes: no placeholder parsing, so '%' stays a literal


def _duckdb_report(extra: list[str]) -> QualityReport:
    con = duckdb.connect()
    load_small_cdm(con)
    for sql in extra:
        con.execute(sql)
    store = DuckDbStore(con=con, label="duckdb")
    try:
        return run_checks(store)
    finally:
        store.close()


def _outcomes(report: QualityReport) -> list[tuple[object, ...]]:
    return [
        (
            r.check_name,
            r.table,
            r.field,
            r.concept_id,
            r.unit_concept_id,
            r.status,
            r.num_violated_rows,
            r.num_denominator_rows,
        )
        for r in report.results
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("extra", [[], BREAKS], ids=["valid", "broken"])
def test_run_checks_postgres_matches_duckdb(pg_schema: str, extra: list[str]) -> None:
    # Prepare
    _load_pg(pg_schema, extra)
    store = open_store(f"{PG_URL}?schema={pg_schema}")
    # Execute
    try:
        pg = run_checks(store)
    finally:
        store.close()
    duck = _duckdb_report(extra)
    # Assert
    assert pg.dialect == "postgresql"
    assert [r for r in pg.results if r.status == "error"] == []
    assert _outcomes(pg) == _outcomes(duck)
    assert (pg.summary.failed > 0) == bool(extra)
