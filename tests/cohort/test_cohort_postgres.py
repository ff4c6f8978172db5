"""The same definition gives the same counts and statistics on DuckDB and on PostgreSQL (a copy of the site)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cohort_tiny_cdm import REQUEST, definition

from dari.cdm.store import SITE_CDM_FILE, CdmStore, PostgresStore, copy_duckdb_to_postgres, open_store
from dari.cohort import load_definition, load_table_one_request, parse_definition, parse_table_one_request
from dari.cohort.definition import CohortDefinition
from dari.cohort.feasibility import unprotected_feasibility
from dari.cohort.summary import RawNumeric
from dari.cohort.table_one import RawTableOne, unprotected_table_one
from pg_server import PG_URL

pytestmark = pytest.mark.postgres
EXAMPLES = Path(str(resources.files("dari.cohort") / "examples"))


def _both(duckdb_file: Path, schema: str) -> tuple[CdmStore, CdmStore]:
    copy_duckdb_to_postgres(duckdb_file, f"{PG_URL}?schema={schema}")
    return open_store(duckdb_file), open_store(f"{PG_URL}?schema={schema}")


def _same_numeric(a: RawNumeric, b: RawNumeric) -> None:
    assert (a.n, a.bins, a.bin_width) == (b.n, b.bins, b.bin_width)
    for key in ("mean", "sd", "q1", "median", "q3"):
        x, y = getattr(a, key), getattr(b, key)
        assert (x is None and y is None) or x == pytest.approx(y, rel=1e-9), key


def _same_table_one(a: RawTableOne, b: RawTableOne) -> None:
    assert (a.n, a.sex, a.comorbidities) == (b.n, b.sex, b.comorbidities)
    _same_numeric(a.age, b.age)
    assert a.labs.keys() == b.labs.keys()
    for name in a.labs:
        _same_numeric(a.labs[name], b.labs[name])


def _compare(duck: CdmStore, pg: CdmStore, d: CohortDefinition, request: Any = None) -> tuple[int, ...]:
    f_duck = unprotected_feasibility(duck, d, site="duckdb")
    f_pg = unprotected_feasibility(pg, d, site="postgres")
    assert f_duck == f_pg
    if request is not None:
        t_duck = unprotected_table_one(duck, d, request, site="duckdb")
        _same_table_one(t_duck, unprotected_table_one(pg, d, request, site="postgres"))
        assert t_duck.n == f_duck.remaining[-1]
    return f_duck.remaining


def test_cohort_tiny_same_on_postgres(
    tiny_path: Path, pg: psycopg.Connection[tuple[Any, ...]], pg_schema: Callable[[], str]
) -> None:
    # Prepare
    duck, pgstore = _both(tiny_path, pg_schema())
    assert isinstance(pgstore, PostgresStore)
    every_event = definition()
    every_event["index"]["occurrence"] = "all"
    # Execute / Assert
    try:
        request = parse_table_one_request(REQUEST)
        assert _compare(duck, pgstore, parse_definition(definition()), request) == (6, 5, 4, 3, 2)
        assert _compare(duck, pgstore, parse_definition(every_event)) == (7, 6, 5, 4, 3)
    finally:
        duck.close()
        pgstore.close()


@pytest.mark.slow
def test_cohort_synthetic_site_same_on_postgres(
    synthetic_site: Path, pg: psycopg.Connection[tuple[Any, ...]], pg_schema: Callable[[], str]
) -> None:
    # Prepare
    duck, pgstore = _both(synthetic_site / SITE_CDM_FILE, pg_schema())
    request = load_table_one_request(EXAMPLES / "table_one_cardiometabolic.json")
    # Execute / Assert
    try:
        assert _compare(duck, pgstore, load_definition(EXAMPLES / "t2dm_on_metformin.json"))[0] > 0
        assert _compare(duck, pgstore, load_definition(EXAMPLES / "ckd_g3.json"), request)[-1] > 0
    finally:
        duck.close()
        pgstore.close()
