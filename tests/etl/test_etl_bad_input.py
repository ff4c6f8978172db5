"""Bad extracts: the ETL stops with an InputError naming file, row and column, and changes nothing on disk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from etl_helpers import leftover_temp_files, manifest_of, read_table, reseal, snapshot, write_table

from dari.errors import InputError
from dari.etl.pipeline import run_etl

SiteCopy = Callable[[str], Path]


def _fail(site: Path) -> InputError:
    """Run the ETL expecting InputError; assert the site folder is byte-identical afterwards."""
    before = snapshot(site)
    assert "cdm.duckdb" in before
    with pytest.raises(InputError) as info:
        run_etl(site)
    assert snapshot(site) == before, "the failed ETL changed, added or removed files in the site folder"
    assert leftover_temp_files(site) == []
    return info.value


def _replace_line(path: Path, line_no: int, old: bytes, new: bytes) -> None:
    """Replace `old` by `new` on physical line `line_no` (1-based) of a file, bytes-exactly; reseal the manifest."""
    lines = path.read_bytes().split(b"\n")
    assert old in lines[line_no - 1]
    lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
    path.write_bytes(b"\n".join(lines))
    reseal(path.parent.parent, path.stem)


@pytest.mark.parametrize(
    "site_id",
    [
        "site-1",
        "site-3",
    ],
)
def test_run_etl_cp949_bytes_in_utf8_file(site_copy: SiteCopy, site_id: str) -> None:
    # Prepare: data row 7 of a UTF-8 site's patients.csv gets its name written in CP949
    site = site_copy(site_id)
    _, rows = read_table(site, "patients")
    data_row = 7
    patient = rows[data_row - 1]
    path = site / "extract" / "patients.csv"
    _replace_line(path, data_row + 1, patient["name"].encode("utf-8"), patient["name"].encode("cp949"))
    # Execute
    exc = _fail(site)
    # Assert: encoding errors point at the physical line (header = line 1)
    assert Path(str(exc.file)) == path
    assert exc.row == data_row + 1
    assert exc.column == "name"
    assert "utf-8" in str(exc).lower()
    assert patient["name"] not in str(exc)
    assert patient["rrn"] not in str(exc)


def test_run_etl_invalid_cp949_bytes_in_cp949_file(site_copy: SiteCopy) -> None:
    # Prepare: site-2 declares cp949; data row 12 of patients.csv holds bytes that are not CP949 at all
    site = site_copy("site-2")
    _, rows = read_table(site, "patients")
    data_row = 12
    patient = rows[data_row - 1]
    path = site / "extract" / "patients.csv"
    name = patient["name"].encode("cp949")
    _replace_line(path, data_row + 1, name, name[:2] + b"\xff\x80" + name[2:])
    # Execute
    exc = _fail(site)
    # Assert
    assert Path(str(exc.file)) == path
    assert exc.row == data_row + 1
    assert exc.column == "name"
    assert "cp949" in str(exc).lower()
    assert patient["name"] not in str(exc)
    assert patient["rrn"] not in str(exc)


def test_run_etl_missing_column(site_copy: SiteCopy) -> None:
    # Prepare: visits.csv loses its `department` column
    site = site_copy("site-3")
    header, rows = read_table(site, "visits")
    header.remove("department")
    write_table(site, "visits", header, [{k: v for k, v in r.items() if k != "department"} for r in rows])
    # Execute
    exc = _fail(site)
    # Assert
    assert Path(str(exc.file)) == site / "extract" / "visits.csv"
    assert exc.row == 1
    assert exc.column == "department"
    assert "missing column" in str(exc)


def test_run_etl_extra_column(site_copy: SiteCopy) -> None:
    # Prepare: patients.csv gains a column the extract format does not define
    site = site_copy("site-1")
    header, rows = read_table(site, "patients")
    header.append("blood_type")
    for r in rows:
        r["blood_type"] = "A"
    write_table(site, "patients", header, rows)
    # Execute
    exc = _fail(site)
    # Assert
    assert Path(str(exc.file)) == site / "extract" / "patients.csv"
    assert exc.row == 1
    assert exc.column == "blood_type"


@pytest.mark.parametrize(("site_id", "bad_date"), [("site-3", "2021-13-45"), ("site-2", "2021-03-05")])
def test_run_etl_malformed_date(site_copy: SiteCopy, site_id: str, bad_date: str) -> None:
    # Prepare: data row 5 of visits.csv has an admit_date not in the manifest's date format
    site = site_copy(site_id)
    header, rows = read_table(site, "visits")
    data_row = 5
    rows[data_row - 1]["admit_date"] = bad_date
    write_table(site, "visits", header, rows)
    # Execute
    exc = _fail(site)
    # Assert: rows are physical lines (header = line 1)
    assert Path(str(exc.file)) == site / "extract" / "visits.csv"
    assert exc.row == data_row + 1
    assert exc.column == "admit_date"
    assert bad_date not in str(exc)


def test_run_etl_malformed_birth_date_does_not_echo_identifiers(site_copy: SiteCopy) -> None:
    # Prepare: data row 9 of patients.csv has a birth date that is not a date
    site = site_copy("site-3")
    header, rows = read_table(site, "patients")
    data_row = 9
    patient = rows[data_row - 1]
    patient["birth_date"] = "1970/02/30"
    write_table(site, "patients", header, rows)
    # Execute
    exc = _fail(site)
    # Assert
    assert (Path(str(exc.file)).name, exc.row, exc.column) == ("patients.csv", data_row + 1, "birth_date")
    for value in (patient["name"], patient["rrn"], patient["patient_no"], patient["phone_mobile"]):
        assert value not in str(exc)


def test_run_etl_malformed_integer(site_copy: SiteCopy) -> None:
    # Prepare: data row 17 of prescriptions.csv has a days_supply that is not a whole number
    site = site_copy("site-3")
    header, rows = read_table(site, "prescriptions")
    data_row = 17
    rows[data_row - 1]["days_supply"] = "30일"
    write_table(site, "prescriptions", header, rows)
    # Execute
    exc = _fail(site)
    # Assert
    assert Path(str(exc.file)) == site / "extract" / "prescriptions.csv"
    assert exc.row == data_row + 1
    assert exc.column == "days_supply"
    assert "whole number" in str(exc)


def test_run_etl_duplicate_key(site_copy: SiteCopy) -> None:
    # Prepare: data row 10 of patients.csv repeats the patient_no of data row 3
    site = site_copy("site-3")
    header, rows = read_table(site, "patients")
    rows[9]["patient_no"] = rows[2]["patient_no"]
    write_table(site, "patients", header, rows)
    # Execute
    exc = _fail(site)
    # Assert: the second occurrence is reported, as its physical line
    assert Path(str(exc.file)) == site / "extract" / "patients.csv"
    assert exc.row == 11
    assert exc.column == "patient_no"
    assert rows[2]["patient_no"] not in str(exc)
    assert rows[9]["name"] not in str(exc)


def test_run_etl_empty_file(site_copy: SiteCopy) -> None:
    # Prepare: procedures.csv is 0 bytes
    site = site_copy("site-2")
    path = site / "extract" / "procedures.csv"
    path.write_bytes(b"")
    # Execute
    exc = _fail(site)
    # Assert
    assert Path(str(exc.file)) == path
    assert exc.row == 1
    assert exc.column is None
    assert "empty" in str(exc)


def test_run_etl_header_only_file(site_copy: SiteCopy) -> None:
    # Prepare: diagnoses.csv keeps its header row and nothing else
    site = site_copy("site-1")
    header, _ = read_table(site, "diagnoses")
    write_table(site, "diagnoses", header, [])
    # Execute
    exc = _fail(site)
    # Assert: the missing first data row is physical line 2
    assert Path(str(exc.file)) == site / "extract" / "diagnoses.csv"
    assert exc.row == 2
    assert exc.column is None
    assert "no rows" in str(exc)


def test_run_etl_manifest_missing(site_copy: SiteCopy) -> None:
    # Prepare
    site = site_copy("site-3")
    (site / "extract" / "manifest.json").unlink()
    # Execute
    exc = _fail(site)
    # Assert
    assert Path(str(exc.file)) == site / "extract" / "manifest.json"
    assert exc.row is None
    assert "manifest.json" in str(exc)


def test_run_etl_manifest_invalid_json(site_copy: SiteCopy) -> None:
    # Prepare: a trailing comma on line 3 of manifest.json makes line 4 invalid
    site = site_copy("site-3")
    path = site / "extract" / "manifest.json"
    path.write_text('{\n  "site_id": "site-3",\n  "encoding": "utf-8",\n}\n', encoding="utf-8")
    # Execute
    exc = _fail(site)
    # Assert
    assert Path(str(exc.file)) == path
    assert exc.row == 4
    assert "JSON" in str(exc)


def test_run_etl_manifest_names_missing_file(site_copy: SiteCopy) -> None:
    # Prepare: the manifest lists lab_results.csv, which is not there
    site = site_copy("site-3")
    path = site / "extract" / "lab_results.csv"
    path.unlink()
    # Execute
    exc = _fail(site)
    # Assert
    assert Path(str(exc.file)) == path
    assert exc.row is None
    assert "missing" in str(exc)


def test_run_etl_row_numbers_agree_between_encoding_and_value_errors(site_copy: SiteCopy) -> None:
    # Prepare: two copies of site-3; one gets a CP949 name, the other a malformed birth date, on the same line
    data_row = 6
    enc_site = site_copy("site-3")
    _, rows = read_table(enc_site, "patients")
    name = rows[data_row - 1]["name"]
    _replace_line(enc_site / "extract" / "patients.csv", data_row + 1, name.encode("utf-8"), name.encode("cp949"))
    val_site = site_copy("site-3")
    header, rows = read_table(val_site, "patients")
    rows[data_row - 1]["birth_date"] = "not a date"
    write_table(val_site, "patients", header, rows)
    # Execute
    enc_exc = _fail(enc_site)
    val_exc = _fail(val_site)
    # Assert
    assert enc_exc.row == val_exc.row


def test_synth_manifest_vouches_for_every_file(network: Path) -> None:
    # Prepare / Execute: the manifests `dari synth` wrote for the session network
    for site in sorted(p for p in network.iterdir() if (p / "extract" / "manifest.json").is_file()):
        files = manifest_of(site)["files"]
        assert isinstance(files, dict)
        # Assert: every file has its data-row count and the SHA-256 of its bytes on disk
        for name, entry in files.items():
            path = site / "extract" / entry["file"]
            assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), name
            _, rows = read_table(site, name)
            assert entry["rows"] == len(rows), name
