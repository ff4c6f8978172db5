"""Loaders for official files: an Athena download into DuckDB, and a KCD code list in CP949 or UTF-8."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from dari.cdm.store import create_cdm_schema
from dari.errors import InputError
from dari.vocab import shipped_vocabulary
from dari.vocab.official import kcd_concept_id, load_athena, load_kcd_file

ATHENA = {
    "CONCEPT.csv": [
        "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\tstandard_concept\tconcept_code"
        "\tvalid_start_date\tvalid_end_date\tinvalid_reason",
        "201826\tType 2 diabetes mellitus\tCondition\tSNOMED\tClinical Finding\tS\t44054006\t19700101\t20991231\t",
        "201820\tDiabetes mellitus\tCondition\tSNOMED\tClinical Finding\tS\t73211009\t19700101\t20991231\t",
        '45542411\tType 2 "adult-onset" diabetes\tCondition\tKCD7\tKCD7 code\t\tE11\t19700101\t20991231\t',
    ],
    "CONCEPT_RELATIONSHIP.csv": [
        "concept_id_1\tconcept_id_2\trelationship_id\tvalid_start_date\tvalid_end_date\tinvalid_reason",
        "45542411\t201826\tMaps to\t19700101\t20991231\t",
        "201826\t201820\tIs a\t19700101\t20991231\t",
    ],
    "CONCEPT_ANCESTOR.csv": [
        "ancestor_concept_id\tdescendant_concept_id\tmin_levels_of_separation\tmax_levels_of_separation",
        "201820\t201826\t1\t1",
    ],
    "CONCEPT_SYNONYM.csv": [
        "concept_id\tconcept_synonym_name\tlanguage_concept_id",
        "201826\t2형 당뇨병\t4175771",
    ],
    "VOCABULARY.csv": [
        "vocabulary_id\tvocabulary_name\tvocabulary_reference\tvocabulary_version\tvocabulary_concept_id",
        "SNOMED\tSNOMED CT\thttps://www.snomed.org\t2024-03-01\t44819097",
        "KCD7\tKorean Classification of Diseases, 7th Revision\thttps://www.hira.or.kr\t\t32936",
    ],
}


def write_athena(folder: Path) -> Path:
    for name, lines in ATHENA.items():
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_load_athena_streams_tab_delimited_bundle_into_cdm(tmp_path: Path) -> None:
    con = duckdb.connect()
    create_cdm_schema(con)
    counts = load_athena(con, write_athena(tmp_path))
    assert counts == {"concept": 3, "vocabulary": 2, "domain": 0, "concept_class": 0, "relationship": 0,
                      "concept_relationship": 2, "concept_synonym": 1, "concept_ancestor": 1,
                      "drug_strength": 0}  # fmt: skip
    row = con.execute("SELECT concept_name, valid_start_date FROM concept WHERE concept_id = 45542411").fetchone()
    assert row == ('Type 2 "adult-onset" diabetes', dt.date(1970, 1, 1))  # quotes survive, YYYYMMDD parsed
    std = con.execute("SELECT standard_concept FROM concept WHERE concept_id = 45542411").fetchone()
    assert std == (None,)  # an empty field is NULL, as the CDM expects


def test_load_athena_creates_missing_tables_and_replaces_rows(tmp_path: Path) -> None:
    con = duckdb.connect()
    load_athena(con, write_athena(tmp_path))
    load_athena(con, tmp_path)  # a second load replaces rather than duplicates
    assert con.execute("SELECT count(*) FROM concept").fetchone() == (3,)


def test_load_athena_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    write_athena(tmp_path)
    lines = ATHENA["CONCEPT_ANCESTOR.csv"]
    (tmp_path / "CONCEPT_ANCESTOR.csv").write_text(
        lines[0].replace("\tmax_levels_of_separation", "") + "\n201820\t201826\t1\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as err:
        load_athena(duckdb.connect(), tmp_path)
    assert err.value.file is not None and err.value.file.endswith("CONCEPT_ANCESTOR.csv")
    assert err.value.column == "max_levels_of_separation"


def test_load_athena_bad_date_is_an_input_error(tmp_path: Path) -> None:
    write_athena(tmp_path)
    path = tmp_path / "CONCEPT.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("19700101", "1970-13-45", 1), encoding="utf-8")
    with pytest.raises(InputError, match=r"CONCEPT\.csv"):
        load_athena(duckdb.connect(), tmp_path)


KCD_ROWS = [
    ("상병기호", "한글명", "영문명"),
    ("E11.9", "합병증을 동반하지 않은 2형 당뇨병", "Type 2 diabetes mellitus without complications"),
    ("E11.3", "눈합병증을 동반한 2형 당뇨병", ""),
    ("N184", "만성 신장병(4기)", "Chronic kidney disease, stage 4"),
    ("L40.0", "보통 건선", ""),
]


def write_kcd(path: Path, rows: list[tuple[str, ...]], encoding: str) -> Path:
    path.write_bytes("\r\n".join(",".join(r) for r in rows).encode(encoding))
    return path


def test_load_kcd_file_reads_cp949_and_maps_via_shipped_vocabulary(tmp_path: Path) -> None:
    result = load_kcd_file(write_kcd(tmp_path / "kcd8.csv", KCD_ROWS, "cp949"))
    by_code = {c.concept_code: c for c in result.concepts}
    assert set(by_code) == {"E11.9", "E11.3", "N18.4", "L40.0"}
    assert by_code["E11.3"].concept_name_ko == "눈합병증을 동반한 2형 당뇨병"
    vocab = shipped_vocabulary()
    # a shipped code keeps its shipped id; others get the id derived from the code
    assert by_code["E11.9"].concept_id == vocab.by_code("KCD8", "E11.9").concept_id
    assert by_code["E11.3"].concept_id == kcd_concept_id("E11.3")
    targets = {r.concept_id_1: r.concept_id_2 for r in result.relationships}
    assert targets[by_code["N18.4"].concept_id] == vocab.by_code("SNOMED", "431857002").concept_id
    # E11.3 is not shipped: it maps through its ICD-10 parent E11 to type 2 diabetes
    assert targets[by_code["E11.3"].concept_id] == vocab.by_code("SNOMED", "44054006").concept_id
    assert result.parents["E11.3"] == "E11"
    assert result.unmapped == ("L40.0",)


def test_load_kcd_file_fills_missing_english_name_from_icd10(tmp_path: Path) -> None:
    result = load_kcd_file(write_kcd(tmp_path / "kcd8.csv", KCD_ROWS, "utf-8"))
    names = {c.concept_code: c.concept_name for c in result.concepts}
    assert names["L40.0"] == "Psoriasis vulgaris"
    assert "ophthalmic" in names["E11.3"].lower()


def test_load_kcd_file_custom_column_names(tmp_path: Path) -> None:
    rows = [("code", "name_ko"), ("I10", "본태성(일차성) 고혈압")]
    result = load_kcd_file(write_kcd(tmp_path / "k.csv", rows, "utf-8"), code_column="code", korean_column="name_ko")
    assert result.concepts[0].concept_name == "Essential (primary) hypertension"


def test_load_kcd_file_undecodable_bytes_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes("상병기호,한글명\nE11.9,2형 당뇨병\n".encode() + b"E10.9,\xff\xfe\xff\n")
    with pytest.raises(InputError) as err:
        load_kcd_file(path)
    assert err.value.file == str(path) and err.value.row == 3


def test_load_kcd_file_missing_code_column_is_named(tmp_path: Path) -> None:
    path = write_kcd(tmp_path / "k.csv", [("코드", "한글명"), ("I10", "고혈압")], "cp949")
    with pytest.raises(InputError) as err:
        load_kcd_file(path)
    assert err.value.column == "상병기호" and err.value.row == 1


def test_kcd_concept_id_is_stable_distinct_and_in_local_range() -> None:
    ids = {kcd_concept_id(c) for c in ["A00", "A00.0", "E11.9", "E119", "Z99.9", "Z99.99", "U07.1"]}
    assert len(ids) == 6  # E11.9 and E119 are one code
    assert all(2_010_000_000 <= i < 2**31 for i in ids)
    with pytest.raises(ValueError, match="not shaped"):
        kcd_concept_id("11.9")
