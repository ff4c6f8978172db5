"""Opening CDM stores, and loading a site's CDM into PostgreSQL atomically."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from dari.cdm import store
from dari.cdm.schema import cdm_tables
from dari.cdm.store import DuckDbStore, open_store
from dari.errors import StoreError
from dari.etl.pipeline import run_etl
from pg_server import PG_URL


def _duckdb_counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]) for t in cdm_tables()}


def _pg_counts(pg: psycopg.Connection[tuple[Any, ...]], schema: str) -> dict[str, int]:
    out = {}
    for t in cdm_tables():
        row = pg.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()  # type: ignore[arg-type]
        out[t] = int(row[0]) if row else -1
    return out


def test_open_store_site_folder(cdm_site: Path) -> None:
    # Prepare / Execute
    s = open_store(cdm_site)
    try:
        persons = s.query("SELECT count(*) FROM person")
        columns = s.table_columns()
    finally:
        s.close()
    # Assert
    assert isinstance(s, DuckDbStore) and s.dialect == "duckdb"
    assert s.label == str(cdm_site / "cdm.duckdb")
    assert persons == [(150,)]
    assert "value_as_number" in columns["measurement"]


def test_open_store_duckdb_file_is_read_only(cdm_site: Path) -> None:
    # Prepare / Execute
    s = open_store(cdm_site / "cdm.duckdb")
    try:
        n = s.query("SELECT count(*) FROM concept")
        with pytest.raises(duckdb.Error):
            s.execute("DELETE FROM person")
    finally:
        s.close()
    # Assert
    assert n[0][0] > 0


@pytest.mark.parametrize("which", ["missing-folder", "missing-file"])
def test_open_store_missing_path_raises_store_error(tmp_path: Path, which: str) -> None:
    # Prepare
    target = tmp_path / "nowhere" if which == "missing-folder" else tmp_path / "absent.duckdb"
    # Execute
    with pytest.raises(StoreError) as info:
        open_store(target)
    # Assert
    assert str(target) in str(info.value)
    assert not target.exists()


def test_open_store_not_a_duckdb_file_raises_store_error(tmp_path: Path) -> None:
    # Prepare
    target = tmp_path / "cdm.duckdb"
    target.write_bytes(b"this is not a database" * 100)
    # Execute / Assert
    with pytest.raises(StoreError):
        open_store(target)


def test_open_store_bad_schema_name_raises_store_error() -> None:
    # Prepare / Execute
    with pytest.raises(StoreError) as info:
        open_store(f"{PG_URL}?schema=Bad;DROP")
    # Assert
    assert "schema" in str(info.value)


@pytest.mark.postgres
def test_run_etl_to_postgres_row_counts_equal_duckdb(
    cdm_site: Path, tmp_path: Path, pg: psycopg.Connection[tuple[Any, ...]], pg_schema: Callable[[], str]
) -> None:
    # Prepare
    site = Path(shutil.copytree(cdm_site, tmp_path / cdm_site.name))
    schema = pg_schema()
    expected = _duckdb_counts(site / "cdm.duckdb")
    # Execute
    report = run_etl(site, target=f"{PG_URL}?schema={schema}")
    loaded = _pg_counts(pg, schema)
    # Assert
    assert loaded == expected
    assert expected["person"] == 150 and expected["concept"] > 0
    assert report.cdm_rows["person"] == 150
    assert "postgres@" not in report.target
    s = open_store(f"{PG_URL}?schema={schema}")
    try:
        assert s.query("SELECT count(*) FROM measurement WHERE value_as_number IS NOT NULL") == [
            (_duckdb_value(site, "SELECT count(*) FROM measurement WHERE value_as_number IS NOT NULL"),)
        ]
    finally:
        s.close()


def _duckdb_value(site: Path, sql: str) -> int:
    with duckdb.connect(str(site / "cdm.duckdb"), read_only=True) as con:
        return int(con.execute(sql).fetchall()[0][0])


@pytest.mark.postgres
def test_copy_duckdb_to_postgres_failure_midway_keeps_previous_schema(
    cdm_site: Path,
    pg: psycopg.Connection[tuple[Any, ...]],
    pg_schema: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare: a first, complete load; then make the copy fail once it reaches the measurement table
    schema = pg_schema()
    target = f"{PG_URL}?schema={schema}"
    store.copy_duckdb_to_postgres(cdm_site / "cdm.duckdb", target)
    before = _pg_counts(pg, schema)
    real_batches = store._arrow_batches
    copied: list[str] = []

    def failing_batches(con: duckdb.DuckDBPyConnection, table: str, batch_rows: int):  # type: ignore[no-untyped-def]
        copied.append(table)
        if table == "measurement":
            raise RuntimeError("disk full (simulated)")
        yield from real_batches(con, table, batch_rows)

    monkeypatch.setattr(store, "_arrow_batches", failing_batches)
    # Execute
    with pytest.raises(RuntimeError, match="simulated"):
        store.copy_duckdb_to_postgres(cdm_site / "cdm.duckdb", target)
    # Assert: the failure happened midway, and the earlier load is untouched, with no staging schema left
    assert "person" in copied and copied[-1] == "measurement"
    assert _pg_counts(pg, schema) == before
    assert before["person"] == 150
    staging = pg.execute(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", [f"{schema}_loading"]
    ).fetchone()
    assert staging == (0,)
