"""The Athena loader's checks and swap on a small hand-written download: each fault named, nothing changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from athena_download import DATES, FILES, write_download
from typer.testing import CliRunner

from dari.cdm.store import open_store
from dari.cli.app import app
from dari.errors import InputError, StoreError
from dari.vocab.athena_load import load_vocabulary_into
from dari.vocab.athena_read import ATHENA_TABLES
from pg_server import PG_URL

runner = CliRunner()


def snapshot(target: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the vocabulary tables at `target`, sorted."""
    store = open_store(target)
    try:
        return {n: sorted(store.query(f"SELECT * FROM {n}"), key=repr) for n in ATHENA_TABLES}
    finally:
        store.close()


def test_load_reads_athena_quoting_dates_and_numbers(tmp_path: Path) -> None:
    """Bare quotes stay in names, YYYYMMDD becomes a date, 0.0625 is not rounded, CRLF endings are read."""
    target = str(tmp_path / "cdm.duckdb")
    load = load_vocabulary_into(target, write_download(tmp_path / "a", newline="\r\n"))
    assert load.rows["concept"] == 5 and load.rows["drug_strength"] == 1 and load.absent == ()
    con = duckdb.connect(target, read_only=True)
    assert con.execute("SELECT concept_name FROM concept WHERE concept_id = 45542411").fetchone() == (
        'Type 2 "adult-onset" diabetes',
    )
    assert con.execute("SELECT amount_value, valid_end_date::VARCHAR FROM drug_strength").fetchone() == (
        0.0625,
        "2099-12-31",
    )
    assert con.execute("SELECT count(*) FROM concept WHERE standard_concept IS NULL").fetchone() == (3,)


def test_integral_decimals_and_blank_lines_are_read(tmp_path: Path) -> None:
    """'201820.0' (a re-export from DOUBLE ids) is the id 201820; blank lines hold no row and keep line numbers."""
    edit = {
        "CONCEPT_ANCESTOR.csv": [*FILES["CONCEPT_ANCESTOR.csv"][:2], "", "201820.0\t201820\t0\t0", "", ""],
        "CONCEPT.csv": [*FILES["CONCEPT.csv"], "", "x\tbroken"],
    }
    with pytest.raises(InputError) as err:
        load_vocabulary_into(str(tmp_path / "x.duckdb"), write_download(tmp_path / "a", edit))
    assert (err.value.file or "").endswith("CONCEPT.csv") and err.value.row == 8
    edit["CONCEPT.csv"] = [*FILES["CONCEPT.csv"], ""]
    load = load_vocabulary_into(str(tmp_path / "x.duckdb"), write_download(tmp_path / "b", edit))
    assert load.rows["concept_ancestor"] == 2 and load.rows["concept"] == 5


def test_cli_json_summary_and_absent_optional_file(tmp_path: Path) -> None:
    """--format json lists rows per table; a download without DRUG_STRENGTH.csv loads it empty, with a warning."""
    folder = write_download(tmp_path / "a", {"DRUG_STRENGTH.csv": []})
    result = runner.invoke(app, ["cdm", "vocab", "load", str(folder), str(tmp_path / "x.duckdb"), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"]["concept_ancestor"] == 3 and summary["rows"]["drug_strength"] == 0
    assert summary["absent"] == ["drug_strength"]


BAD: dict[str, tuple[dict[str, list[str]], str, int | None, str | None]] = {
    "duplicate concept_id": (
        {"CONCEPT.csv": [*FILES["CONCEPT.csv"], FILES["CONCEPT.csv"][2]]},
        "CONCEPT.csv",
        7,
        "concept_id",
    ),
    "truncated row": (
        {"CONCEPT_ANCESTOR.csv": [*FILES["CONCEPT_ANCESTOR.csv"][:2], "201826\t2018"]},
        "CONCEPT_ANCESTOR.csv",
        3,
        None,
    ),
    "bad date": (
        {"CONCEPT.csv": [*FILES["CONCEPT.csv"][:3], FILES["CONCEPT.csv"][3].replace("19700101", "19701301")]},
        "CONCEPT.csv",
        4,
        "valid_start_date",
    ),
    "not a number": (
        {"CONCEPT_ANCESTOR.csv": [*FILES["CONCEPT_ANCESTOR.csv"][:3], "201826\t201826\t0.5\t0"]},
        "CONCEPT_ANCESTOR.csv",
        4,
        "min_levels_of_separation",
    ),
    "missing column": (
        {"CONCEPT_SYNONYM.csv": ["concept_id\tconcept_synonym_name", "201826\tT2DM"]},
        "CONCEPT_SYNONYM.csv",
        1,
        "language_concept_id",
    ),
    "empty required value": (
        {"VOCABULARY.csv": [*FILES["VOCABULARY.csv"], "LOINC\t\t\t\t44819102"]},
        "VOCABULARY.csv",
        5,
        "vocabulary_name",
    ),
    "unknown standard flag": (
        {"CONCEPT.csv": [*FILES["CONCEPT.csv"][:2], FILES["CONCEPT.csv"][2].replace("\tS\t", "\tY\t")]},
        "CONCEPT.csv",
        3,
        "standard_concept",
    ),
    "relationship to an unknown concept": (
        {"CONCEPT_RELATIONSHIP.csv": [*FILES["CONCEPT_RELATIONSHIP.csv"], f"45576876\t999\tMaps to\t{DATES}\t"]},
        "CONCEPT_RELATIONSHIP.csv",
        5,
        "concept_id_2",
    ),
    "concept of an unknown vocabulary": (
        {"VOCABULARY.csv": FILES["VOCABULARY.csv"][:3]},
        "CONCEPT.csv",
        5,  # the first ICD10 concept
        "vocabulary_id",
    ),
    "required file absent": ({"CONCEPT_ANCESTOR.csv": []}, "CONCEPT_ANCESTOR.csv", None, None),
    "comma-separated re-save": (
        {"DOMAIN.csv": ["domain_id,domain_name,domain_concept_id", "Condition,Condition,19"]},
        "DOMAIN.csv",
        1,
        None,
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_faulty_download_is_refused_with_file_row_column_and_changes_nothing(tmp_path: Path, case: str) -> None:
    """Each fault raises InputError at the right place; the vocabulary loaded before stays row for row."""
    target = str(tmp_path / "cdm.duckdb")
    load_vocabulary_into(target, write_download(tmp_path / "good"))
    before = snapshot(target)
    edit, file, row, column = BAD[case]
    with pytest.raises(InputError) as err:
        load_vocabulary_into(target, write_download(tmp_path / "bad", edit))
    assert err.value.file is not None and err.value.file.endswith(file)
    assert (err.value.row, err.value.column) == (row, column)
    assert snapshot(target) == before


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    """A file that is not UTF-8 (a CP949 re-save) is refused at the line DuckDB could not decode."""
    folder = write_download(tmp_path / "a")
    path = folder / "CONCEPT_SYNONYM.csv"
    path.write_bytes(path.read_bytes() + "201820\t당뇨병\t4175771\n".encode("cp949"))
    with pytest.raises(InputError, match="not UTF-8") as err:
        load_vocabulary_into(str(tmp_path / "x.duckdb"), folder)
    assert err.value.row == 3


def test_soft_references_and_repeated_synonyms_warn_and_strict_refuses(tmp_path: Path) -> None:
    """An ancestor outside CONCEPT.csv (trimmed vocabularies) and a repeated synonym are reported; --strict refuses
    the ancestor."""
    edit = {
        "CONCEPT_ANCESTOR.csv": [*FILES["CONCEPT_ANCESTOR.csv"], "4000000\t201826\t2\t2"],
        "CONCEPT_SYNONYM.csv": [*FILES["CONCEPT_SYNONYM.csv"], FILES["CONCEPT_SYNONYM.csv"][1]],
    }
    folder = write_download(tmp_path / "a", edit)
    load = load_vocabulary_into(str(tmp_path / "x.duckdb"), folder)
    assert any("ancestor_concept_id" in w for w in load.warnings)
    assert any("1 repeated rows" in w for w in load.warnings) and load.rows["concept_synonym"] == 2
    result = runner.invoke(app, ["cdm", "vocab", "load", str(folder), str(tmp_path / "y.duckdb"), "--strict"])
    assert result.exit_code == 2 and "CONCEPT_ANCESTOR.csv" in result.stderr


def test_postgres_load_twice_and_a_dependent_view_blocks_the_swap(
    pg: Any, pg_schema: Callable[[], str], tmp_path: Path
) -> None:
    """PostgreSQL: a second load replaces the first (index names do not clash); a view on concept stops the swap."""
    schema = pg_schema()
    url = f"{PG_URL}?schema={schema}"
    load_vocabulary_into(url, write_download(tmp_path / "a"))
    second = load_vocabulary_into(url, write_download(tmp_path / "b", {"DRUG_STRENGTH.csv": []}))
    assert second.rows["concept"] == 5 and second.rows["drug_strength"] == 0
    before = snapshot(url)
    pg.execute(f'CREATE VIEW "{schema}".standard AS SELECT * FROM "{schema}".concept')
    with pytest.raises(StoreError, match="CDM unchanged"):
        load_vocabulary_into(url, write_download(tmp_path / "a"))
    assert snapshot(url) == before
    leftover = pg.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [f"{schema}_vocab_loading"])
    assert leftover.fetchone() == (0,)


def test_site_folder_target_table_output_and_load_athena_on_an_open_store(tmp_path: Path) -> None:
    """A site folder means its cdm.duckdb; the table output lists rows; `load_athena` takes an open store too."""
    from dari.vocab.official import load_athena

    site = tmp_path / "site-1"
    site.mkdir()
    folder = write_download(tmp_path / "a")
    result = runner.invoke(app, ["cdm", "vocab", "load", str(folder), str(site)])
    assert result.exit_code == 0, result.output
    assert "concept_ancestor" in result.stdout and (site / "cdm.duckdb").is_file()
    store = open_store(str(site), read_only=False)
    try:
        assert load_athena(store, folder)["concept"] == 5
    finally:
        store.close()


def test_zipped_download_loads_and_faults_name_the_member(tmp_path: Path) -> None:
    """Athena's zip loads as it comes (files in a subfolder too); a fault names `archive.zip:FILE.csv`, row, column."""
    import zipfile

    folder = write_download(tmp_path / "a")
    archive = tmp_path / "vocabulary_download_v5.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in folder.iterdir():
            zipped.write(path, f"vocab/{path.name}")
    assert load_vocabulary_into(str(tmp_path / "x.duckdb"), archive).rows["concept"] == 5
    bad = write_download(tmp_path / "b", BAD["bad date"][0])
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as zipped:
        for path in bad.iterdir():
            zipped.write(path, path.name)
    with pytest.raises(InputError) as err:
        load_vocabulary_into(str(tmp_path / "x.duckdb"), broken)
    assert (err.value.file, err.value.row, err.value.column) == (f"{broken}:CONCEPT.csv", 4, "valid_start_date")
    assert str(err.value).endswith("is not a date (YYYYMMDD)")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(archive.read_bytes()[:-40])
    with pytest.raises(InputError, match="neither a folder nor a zip"):
        load_vocabulary_into(str(tmp_path / "x.duckdb"), truncated)
