"""CP949 extracts (site-2) and the other sites' code styles: decoding, concept mapping, units, streaming."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from etl_helpers import read_table

from dari.errors import InputError
from dari.etl import encoding
from dari.etl.encoding import transcode_to_utf8

HANGUL = re.compile(r"[가-힣]")


def _kcd_names(site: Path) -> dict[str, str]:
    _, rows = read_table(site, "diagnoses")
    return {r["kcd_code"].replace(".", ""): r["diagnosis_name"] for r in rows}


def test_site2_extract_files_are_cp949_not_utf8(network: Path) -> None:
    # Prepare
    folder = network / "site-2" / "extract"
    # Execute
    blobs = {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}
    # Assert: every file decodes as CP949; those with Korean text are not valid UTF-8
    assert set(blobs) >= {"patients.csv", "diagnoses.csv", "lab_codes.csv"}
    for name, blob in blobs.items():
        blob.decode("cp949")
        assert not blob.startswith(b"\xef\xbb\xbf"), name
    for name in ("patients.csv", "diagnoses.csv", "lab_codes.csv"):
        with pytest.raises(UnicodeDecodeError):
            blobs[name].decode("utf-8")


def test_site2_diagnosis_names_decode_to_same_korean_as_utf8_site(network: Path) -> None:
    # Prepare: site-1 writes the same KCD names in UTF-8 (dotted codes; compare undotted)
    utf8_names = _kcd_names(network / "site-1")
    # Execute
    cp949_names = _kcd_names(network / "site-2")
    # Assert
    assert all(HANGUL.search(n) and "\ufffd" not in n for n in cp949_names.values())
    shared = set(utf8_names) & set(cp949_names)
    assert len(shared) >= 10
    assert {c: cp949_names[c] for c in shared} == {c: utf8_names[c] for c in shared}


def test_site2_condition_rows_equal_diagnoses_rows(network: Path) -> None:
    # Prepare
    _, rows = read_table(network / "site-2", "diagnoses")
    # Execute
    with duckdb.connect(str(network / "site-2" / "cdm.duckdb"), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM condition_occurrence").fetchone()
    # Assert
    assert n is not None and n[0] == len(rows) > 0


@pytest.mark.parametrize(
    ("site_id", "every", "some"),
    [
        ("site-1", r"^[A-Z]\d\d(\.\d+)?$", r"^[A-Z]\d\d\.\d+$"),  # dotted
        ("site-2", r"^[A-Z]\d{2,4}$", r"^E119$"),  # undotted
        ("site-3", r"^[A-Z]\d\d(\.\d+)?$", r"^[A-Z]\d\d$"),  # 3-character codes among full ones
    ],
)
def test_condition_mapping_every_kcd_style_maps(network: Path, site_id: str, every: str, some: str) -> None:
    # Prepare: the site's coding style is what its profile says
    _, rows = read_table(network / site_id, "diagnoses")
    assert all(re.match(every, r["kcd_code"]) for r in rows)
    styled = {r["kcd_code"] for r in rows if re.match(some, r["kcd_code"])}
    assert styled
    # Execute
    with duckdb.connect(str(network / site_id / "cdm.duckdb"), read_only=True) as con:
        unmapped, unsourced, total = con.execute(
            "SELECT count(*) FILTER (WHERE condition_concept_id = 0), "
            "count(*) FILTER (WHERE condition_source_concept_id = 0), count(*) FROM condition_occurrence"
        ).fetchone() or (None, None, None)
        styled_unmapped = con.execute(
            """SELECT count(*) FROM condition_occurrence c
               LEFT JOIN concept k ON k.concept_id = c.condition_concept_id
               WHERE c.condition_source_value IN (SELECT unnest(?))
                 AND (k.concept_id IS NULL OR k.standard_concept <> 'S' OR k.domain_id <> 'Condition')""",
            [sorted(styled)],
        ).fetchone()
    # Assert
    assert total == len(rows)
    assert unmapped == 0
    assert unsourced == 0
    assert styled_unmapped == (0,)


def test_site2_creatinine_in_umol_maps_to_measurement_concept(network: Path) -> None:
    # Prepare: the local code for creatinine is the one lab_codes.csv gives unit umol/L
    _, codes = read_table(network / "site-2", "lab_codes")
    creatinine = [c for c in codes if c["unit"] == "umol/L"]
    assert len(creatinine) == 1
    # Execute
    with duckdb.connect(str(network / "site-2" / "cdm.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT m.unit_source_value, c.domain_id, c.vocabulary_id, c.concept_code, u.concept_code, count(*) "
            "FROM measurement m LEFT JOIN concept c ON c.concept_id = m.measurement_concept_id "
            "LEFT JOIN concept u ON u.concept_id = m.unit_concept_id "
            "WHERE m.measurement_source_value = ? GROUP BY ALL",
            [creatinine[0]["lab_code"]],
        ).fetchall()
    # Assert
    assert len(rows) == 1
    unit, domain, vocabulary, code, ucum, n = rows[0]
    assert (unit, domain, vocabulary, code, ucum) == (
        "umol/L",
        "Measurement",
        "LOINC",
        creatinine[0]["loinc"],
        "umol/L",
    )
    assert n > 0


@pytest.mark.parametrize("enc", ["cp949", "utf-8"])
def test_transcode_to_utf8_multibyte_split_at_chunk_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enc: str
) -> None:
    # Prepare: 7-byte chunks; the first Korean character's bytes start at offset 6, so it straddles the boundary
    monkeypatch.setattr(encoding, "_CHUNK", 7)
    text = 'ab,c\n"가나",김철수\n"부산광역시 금정구",x\n' * 5
    prefix = len('ab,c\n"')
    assert prefix == 7 - 1 and len(text[prefix].encode(enc)) > 1
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_bytes(text.encode(enc))
    # Execute
    transcode_to_utf8(source, enc, out, ["ab", "c"])
    # Assert
    assert out.read_bytes() == text.encode("utf-8")


def test_transcode_to_utf8_error_position_after_many_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: small chunks, an invalid CP949 byte on physical line 9 in the second column
    monkeypatch.setattr(encoding, "_CHUNK", 5)
    lines = ["name,city"] + [f"김철수{i},부산" for i in range(10)]
    blob = bytearray("\n".join(lines).encode("cp949"))
    at = blob.index("김철수7,".encode("cp949")) + len("김철수7,".encode("cp949"))
    blob[at:at] = b"\xff"
    source = tmp_path / "in.csv"
    source.write_bytes(bytes(blob))
    # Execute
    with pytest.raises(InputError) as info:
        transcode_to_utf8(source, "cp949", None, ["name", "city"])
    # Assert
    assert (info.value.file, info.value.row, info.value.column) == (str(source), 9, "city")
    assert "김철수" not in str(info.value)


def test_transcode_to_utf8_error_position_after_split_character(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: chunk 1 (8 bytes) ends with 2 of the 3 bytes of '가'; chunk 2 holds its last byte, then the error
    monkeypatch.setattr(encoding, "_CHUNK", 8)
    blob = b"a,b\nxy" + "가".encode() + b",\xff\nq,r\n"
    assert blob[8:9] == "가".encode()[2:]
    source = tmp_path / "in.csv"
    source.write_bytes(blob)
    # Execute
    with pytest.raises(InputError) as info:
        transcode_to_utf8(source, "utf-8", None, ["a", "b"])
    # Assert: the bad byte is on line 2, in column b
    assert (info.value.row, info.value.column) == (2, "b")
