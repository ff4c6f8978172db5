"""Keyed pseudonymisation at the site: keys, policies, pseudonyms, and that no direct identifier reaches the CDM."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dari.cli.app import app
from dari.errors import InputError
from dari.etl.seam import WITHHELD_NOTE_TEXT
from dari.privacy.ingest import run_ingest
from dari.privacy.keys import create_key_file, load_key
from dari.privacy.policy import load_policy
from dari.privacy.pseudonymise import pseudonyms, shift_days
from dari.privacy.text import deidentify
from dari.synth.network import generate_site
from dari.synth.sites import DEFAULT_SITES

IDENTIFIER_COLUMNS = (
    "patient_no",
    "name",
    "name_en",
    "rrn",
    "phone_mobile",
    "phone_home",
    "road_address",
    "lot_address",
    "email",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ps") / "site-2"
    generate_site(DEFAULT_SITES[1], folder, 400, seed=11)  # the CP949 site
    return folder


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "site.key"
    create_key_file(path)
    return path


def _rows(site: Path, name: str) -> list[dict[str, str]]:
    text = (site / "extract" / f"{name}.csv").read_bytes().decode("cp949")
    return list(csv.DictReader(io.StringIO(text)))


def _patients(site: Path) -> list[dict[str, str]]:
    return _rows(site, "patients")


def test_create_key_file_owner_only_and_never_overwrites(key_file: Path) -> None:
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert len(load_key(key_file)) == 32
    with pytest.raises(InputError, match="already exists"):
        create_key_file(key_file)


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (b"", 0o600, "empty"),
        (b"not-hex\n", 0o600, "hex"),
        (b"00" * 32, 0o644, "readable by others"),
        (b"ab" * 4, 0o600, "shorter"),
    ],
)
def test_load_key_refuses_unsafe_or_broken_files(tmp_path: Path, content: bytes, mode: int, message: str) -> None:
    path = tmp_path / "k.key"
    path.write_bytes(content)
    os.chmod(path, mode)
    with pytest.raises(InputError, match=message) as info:
        load_key(path)
    assert info.value.file == str(path)


def test_load_key_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_key(tmp_path / "none.key")


def test_pseudonyms_keyed_stable_and_not_a_plain_hash() -> None:
    a = pseudonyms(b"k" * 32, ["12345678", "12345679"], prefix="P", hex_chars=20)
    again = pseudonyms(b"k" * 32, ["12345678"], prefix="P", hex_chars=20)
    other = pseudonyms(b"j" * 32, ["12345678"], prefix="P", hex_chars=20)
    assert a[0] == again[0] and a[0] != a[1] and a[0] != other[0]
    assert hashlib.sha256(b"12345678").hexdigest()[:20] not in a[0]
    assert len(a[0]) == 21


def test_shift_days_in_range_nonzero_and_stable() -> None:
    values = [str(i) for i in range(5000)]
    shifts = shift_days(b"k" * 32, values, 30)
    assert shifts.min() >= -30 and shifts.max() <= 30
    assert (shifts != 0).all()
    assert (shifts == shift_days(b"k" * 32, values, 30)).all()
    assert (shifts < 0).mean() == pytest.approx(0.5, abs=0.05)


def test_load_policy_needs_a_treatment_for_every_column(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "src/dari/privacy/data/default_policy.toml").read_text("utf-8")
    broken = tmp_path / "p.toml"
    broken.write_text(text.replace('rrn = "remove"\n', ""), encoding="utf-8")
    with pytest.raises(InputError, match="no treatment") as info:
        load_policy(broken)
    assert info.value.column == "rrn"


def test_load_policy_refuses_keeping_the_patient_number(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "src/dari/privacy/data/default_policy.toml").read_text("utf-8")
    bad = tmp_path / "p.toml"
    bad.write_text(text.replace('patient_no = "pseudonym"', 'patient_no = "keep"'), encoding="utf-8")
    with pytest.raises(InputError, match="must be pseudonymised"):
        load_policy(bad)


def test_load_policy_invalid_toml_names_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text("[patients\n", encoding="utf-8")
    with pytest.raises(InputError, match="TOML") as info:
        load_policy(bad)
    assert info.value.file == str(bad)


def test_run_ingest_no_direct_identifier_reaches_cdm_or_report(site: Path, key_file: Path, tmp_path: Path) -> None:
    # Prepare
    work = tmp_path / "site"
    shutil.copytree(site, work)
    identifiers = {r[c] for r in _patients(work) for c in IDENTIFIER_COLUMNS if r[c]}
    # Execute
    report, record = run_ingest(work, key_file)
    # Assert: scan every text column of every CDM table, and the record
    with duckdb.connect(str(work / "cdm.duckdb"), read_only=True) as con:
        cols = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema = 'main'"
        ).fetchall()
        values: set[str] = set()
        for table, column in cols:
            values.update(v for (v,) in con.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall() if v)
        pseudos = {v for (v,) in con.execute("SELECT person_source_value FROM person").fetchall()}
        months = con.execute("SELECT count(*) FROM person WHERE month_of_birth IS NOT NULL").fetchall()[0][0]
        note_texts = con.execute("SELECT note_id, note_text FROM note").fetchall()
    assert not identifiers & values
    # Every occurrence of a patient's own identifiers in their notes is inside a span the de-identifier replaces.
    # (Checking the surrogate text instead would flag a surrogate that happens to equal a common real name.)
    assert note_texts and all(text != WITHHELD_NOTE_TEXT for _, text in note_texts)
    own_ids = {r["patient_no"]: [r[c] for c in IDENTIFIER_COLUMNS if r[c]] for r in _patients(work)}
    for note in _rows(work, "clinical_notes"):
        text = note["note_text"]
        spans = deidentify(text).spans
        for value in own_ids[note["patient_no"]]:
            at = text.find(value)
            while at >= 0:
                assert any(s.start <= at and at + len(value) <= s.end for s in spans), "identifier left in a note"
                at = text.find(value, at + 1)
    for value in values:
        assert not any(len(i) >= 6 and i in value for i in identifiers if i.isdigit())
    assert len(pseudos) == report.cdm_rows["person"] == 400
    assert months == 0  # birth dates generalised to the year
    record_text = (work / "reports" / "pseudonymisation.json").read_text("utf-8")
    assert not any(i in record_text for i in identifiers)
    assert record.treatments["rrn"] == "remove"
    # the record says how far the release is from the target k, and what would reach it
    assert record.risk_before["k"] == 1
    if record.risk_after["k"] < record.k_target:
        assert record.k_review["after"]["k"] >= record.k_target
        assert record.k_review["suppressed"] <= 0.05 * 400
    html_text = (work / "reports" / "pseudonymisation.html").read_text("utf-8")
    assert "가명처리 기록" in html_text and not any(i in html_text for i in identifiers)


def test_run_ingest_shifts_each_persons_dates_consistently(site: Path, key_file: Path, tmp_path: Path) -> None:
    work = tmp_path / "site"
    shutil.copytree(site, work)
    run_ingest(work, key_file)
    extract = work / "extract"
    visits = list(csv.DictReader(io.StringIO((extract / "visits.csv").read_bytes().decode("cp949"))))
    with duckdb.connect(str(work / "cdm.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT visit_occurrence_id, person_id, visit_start_date FROM visit_occurrence").fetchall()
    source = {int(v["visit_no"]): (v["patient_no"], v["admit_date"]) for v in visits}
    offsets: dict[int, set[int]] = {}
    patient_of: dict[int, str] = {}
    for visit_id, person_id, start in rows:
        patient, raw = source[visit_id]
        original = date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
        offsets.setdefault(person_id, set()).add((start - original).days)
        patient_of[person_id] = patient
    assert all(len(s) == 1 for s in offsets.values())  # one offset per person: intervals preserved
    assert all(0 < abs(next(iter(s))) <= 30 for s in offsets.values())


def test_run_ingest_cleans_each_note_with_its_persons_own_shift(site: Path, key_file: Path, tmp_path: Path) -> None:
    """The seam hands every note's cleaner the note's person and that person's shift, a person's notes together."""
    # Prepare
    work = tmp_path / "site"
    shutil.copytree(site, work)
    calls: list[tuple[str, int]] = []

    def cleaner(person: str, shift: int, _text: str) -> str:
        calls.append((person, shift))
        return f"{person}|{shift}"

    # Execute
    run_ingest(work, key_file, text_cleaner=cleaner)
    with duckdb.connect(str(work / "cdm.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT n.note_id, n.note_text, p.person_source_value, v.visit_start_date FROM note n "
            "JOIN person p USING (person_id) JOIN visit_occurrence v USING (visit_occurrence_id)"
        ).fetchall()
    admit = {int(v["visit_no"]): v["admit_date"] for v in _rows(work, "visits")}
    visit_of = {int(n["note_no"]): int(n["visit_no"]) for n in _rows(work, "clinical_notes")}
    # Assert: the shift the cleaner got is the one the note's visit row got
    assert len(rows) == len(visit_of) > 0
    for note_id, text, pseudonym, start in rows:
        who, shift = text.split("|")
        raw = admit[visit_of[note_id]]
        assert who == pseudonym
        assert (start - date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))).days == int(shift) != 0
    persons = [p for p, _ in calls]
    assert persons == sorted(persons)  # a person's notes one after another


def test_run_ingest_key_rotation_rekeys_every_person(site: Path, tmp_path: Path) -> None:
    # Prepare
    work = tmp_path / "site"
    shutil.copytree(site, work)
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    create_key_file(old)
    create_key_file(new)
    # Execute
    run_ingest(work, old)
    with duckdb.connect(str(work / "cdm.duckdb"), read_only=True) as con:
        before = {r[0] for r in con.execute("SELECT person_source_value FROM person").fetchall()}
    run_ingest(work, new)
    with duckdb.connect(str(work / "cdm.duckdb"), read_only=True) as con:
        after = {r[0] for r in con.execute("SELECT person_source_value FROM person").fetchall()}
    # Assert
    assert len(before) == len(after) == 400
    assert not before & after


def test_cli_site_ingest_and_keygen(site: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    key = tmp_path / "k" / "site.key"
    assert runner.invoke(app, ["privacy", "keygen", str(key)]).exit_code == 0
    again = runner.invoke(app, ["privacy", "keygen", str(key)])
    assert again.exit_code == 2
    work = tmp_path / "site"
    shutil.copytree(site, work)
    result = runner.invoke(app, ["site", "ingest", str(work), "--key-file", str(key), "--format", "json"])
    assert result.exit_code == 0, result.output
    identifiers = {r[c] for r in _patients(work) for c in IDENTIFIER_COLUMNS if r[c]}
    assert not [i for i in identifiers if i in result.output]  # nothing direct in what the command prints
    assert json.loads(result.stdout.splitlines()[-1])["pseudonymiser"] == "keyed-hmac-sha256"
    os.chmod(key, 0o644)
    refused = runner.invoke(app, ["site", "ingest", str(work), "--key-file", str(key)])
    assert refused.exit_code == 2
    assert "readable by others" in refused.output


@pytest.mark.parametrize("key", [b"k" * 32, b"", b"x" * 100])
def test_hmac_sha256_many_equals_standard_hmac(key: bytes) -> None:
    import hmac

    from dari.privacy.pseudonymise import hmac_sha256_many

    values = ["", "12345678", "김철수", "a" * 200]
    assert hmac_sha256_many(key, values) == [hmac.digest(key, v.encode(), "sha256") for v in values]
