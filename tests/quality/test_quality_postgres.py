"""The same checks, unchanged SQL, on PostgreSQL: results must equal DuckDB's on the same small CDM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import psycopg
import pytest
from quality_cdm import SMALL_CDM_SQL, load_small_cdm

from dari.cdm.schema import ddl, quote_ident
from dari.cdm.store import DuckDbStore, open_store
from dari.quality import QualityReport, run_checks
from pg_server import PG_URL

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
def dq_schema(pg: psycopg.Connection[tuple[Any, ...]], pg_schema: Callable[[], str]) -> str:
    """A fresh, uniquely named schema on the test server, dropped afterwards."""
    schema = pg_schema()
    pg.execute(f"CREATE SCHEMA {quote_ident(schema)}")  # type: ignore[arg-type]
    return schema


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
def test_run_checks_postgres_matches_duckdb(dq_schema: str, extra: list[str]) -> None:
    # Prepare
    _load_pg(dq_schema, extra)
    store = open_store(f"{PG_URL}?schema={dq_schema}")
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
