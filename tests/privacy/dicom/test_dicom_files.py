"""Files and folders: valid output, untouched input, identifiers gone from the bytes, atomic failure, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import date
from pathlib import Path

import pydicom
import pytest
import typer
from dicom_helpers import KEY, OTHER_KEY, dicom_testfile
from typer.testing import CliRunner

from dari.cli.privacy_dicom import deid_dicom
from dari.errors import InputError
from dari.privacy.dicom import deidentify_file, deidentify_tree, keyed
from dari.privacy.dicom.files import REPORT_NAME


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dicoms(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.dcm"))


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "ExplVR_BigEnd.dcm", "image_dfl.dcm"])
def test_file_roundtrip_is_valid_and_leaves_no_identifiers(name: str, tmp_path: Path) -> None:
    src = tmp_path / name
    shutil.copyfile(dicom_testfile(name), src)
    before = _sha(src)
    deidentify_file(src, tmp_path / "out" / name, key=KEY)
    assert _sha(src) == before, "the input file must not change"
    orig, out = pydicom.dcmread(src), pydicom.dcmread(tmp_path / "out" / name)
    assert out.SOPInstanceUID == out.file_meta.MediaStorageSOPInstanceUID != orig.SOPInstanceUID
    assert out.file_meta.MediaStorageSOPClassUID == orig.file_meta.MediaStorageSOPClassUID
    assert out.file_meta.TransferSyntaxUID == orig.file_meta.TransferSyntaxUID
    assert out.PixelData == orig.PixelData
    raw = (tmp_path / "out" / name).read_bytes()
    for keyword in ("PatientName", "PatientID", "InstitutionName", "ReferringPhysicianName", "StudyInstanceUID"):
        value = str(orig.get(keyword, "") or "").strip()
        # MR_small's InstitutionName is part of its Manufacturer ('TOSHIBA_MEC'), which the profile keeps.
        if value and value not in str(orig.get("Manufacturer", "")):
            assert value.encode() not in raw, keyword
    assert b"CLUNIE1" not in raw  # the source AE title in the file meta


def test_study_keeps_shared_uids_and_date_intervals(study: Path, tmp_path: Path) -> None:
    report = deidentify_tree(study, tmp_path / "deid", key=KEY)
    files = _dicoms(tmp_path / "deid")
    assert len(files) == 3 and len(report.files) == 3
    outs = sorted((pydicom.dcmread(f) for f in files), key=lambda d: int(d.InstanceNumber))
    origs = sorted((pydicom.dcmread(f) for f in _dicoms(study)), key=lambda d: int(d.InstanceNumber))
    assert len({d.StudyInstanceUID for d in outs}) == 1 and len({d.SeriesInstanceUID for d in outs}) == 1
    assert outs[0].StudyInstanceUID == keyed.remap_uid(KEY, origs[0].StudyInstanceUID)
    assert len({d.SOPInstanceUID for d in outs}) == 3
    assert len({d.PatientID for d in outs}) == 1 and "KIM" not in str(files)

    def day(s: str) -> date:
        return date(int(s[:4]), int(s[4:6]), int(s[6:]))

    offsets = {(day(o.ContentDate) - day(i.ContentDate)).days for o, i in zip(outs, origs, strict=True)}
    offsets |= {(day(o.StudyDate) - day(i.StudyDate)).days for o, i in zip(outs, origs, strict=True)}
    assert offsets == {keyed.day_offset(KEY, origs[0].PatientID)}
    summary = json.loads((tmp_path / "deid" / REPORT_NAME).read_text())
    assert summary["files"] == 3
    assert str(study) not in json.dumps(summary) and "CompressedSamples" not in json.dumps(summary)


def test_same_input_same_uids_and_other_key_other_uids(ct_small: Path, tmp_path: Path) -> None:
    a = deidentify_file(ct_small, tmp_path / "a.dcm", key=KEY)
    b = deidentify_file(ct_small, tmp_path / "b.dcm", key=KEY)
    c = deidentify_file(ct_small, tmp_path / "c.dcm", key=OTHER_KEY)
    assert a.sop_instance_uid == b.sop_instance_uid != c.sop_instance_uid
    assert a.study_instance_uid == b.study_instance_uid != c.study_instance_uid


@pytest.mark.parametrize("damage", ["truncated", "not_dicom", "empty"])
def test_corrupt_input_names_the_file_and_leaves_no_output(damage: str, study: Path, tmp_path: Path) -> None:
    bad = next(iter(_dicoms(study)))
    data = bad.read_bytes()
    bad.write_bytes({"truncated": data[: len(data) // 2], "not_dicom": b"hello, not DICOM", "empty": b""}[damage])
    with pytest.raises(InputError) as exc:
        deidentify_tree(study, tmp_path / "deid", key=KEY)
    assert exc.value.file == str(bad) and exc.value.exit_code == 2
    assert not (tmp_path / "deid").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".deid")] == []
    with pytest.raises(InputError):
        deidentify_file(bad, tmp_path / "one.dcm", key=KEY)
    assert not (tmp_path / "one.dcm").exists()


def test_tree_refuses_to_overwrite_an_unrelated_folder(study: Path, tmp_path: Path) -> None:
    unrelated = tmp_path / "precious"
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("keep me")
    with pytest.raises(InputError):
        deidentify_tree(study, unrelated, key=KEY)
    with pytest.raises(InputError):
        deidentify_tree(study, study / "out", key=KEY)
    deidentify_tree(study, tmp_path / "deid", key=KEY)
    deidentify_tree(study, tmp_path / "deid", key=KEY)  # a previous output may be replaced
    assert len(_dicoms(tmp_path / "deid")) == 3


def _key_file(tmp_path: Path, mode: int = 0o600, content: bytes = KEY) -> Path:
    path = tmp_path / "site.key"
    path.write_bytes(content.hex().encode() + b"\n")  # the site key format of dari.privacy.keys
    os.chmod(path, mode)
    return path


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("deid-dicom")(deid_dicom)
    app.command("noop")(lambda: None)  # a second command, so typer keeps the sub-command name
    return app


def test_cli_tree_and_file(study: Path, ct_small: Path, tmp_path: Path) -> None:
    runner, key = CliRunner(), _key_file(tmp_path)
    out = tmp_path / "deid"
    args = ["deid-dicom", str(study), "--out", str(out), "--key-file", str(key), "--format", "json"]
    result = runner.invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert len(_dicoms(out)) == 3
    one = tmp_path / "one.dcm"
    result = runner.invoke(_app(), ["deid-dicom", str(ct_small), "--out", str(one), "--key-file", str(key)])
    assert result.exit_code == 0, result.output
    assert pydicom.dcmread(one).PatientIdentityRemoved == "YES"


def test_cli_flags_burned_in_and_refuses_open_key(ct_small: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ds = pydicom.dcmread(ct_small)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(ct_small)
    key = _key_file(tmp_path)
    args = ["deid-dicom", str(ct_small), "--out", str(tmp_path / "o.dcm"), "--key-file", str(key)]
    result = runner.invoke(_app(), args)
    assert result.exit_code == 0 and "burned-in" in result.output
    os.chmod(key, 0o644)
    result = runner.invoke(_app(), [*args[:-1], str(key)])
    assert result.exit_code == 2 and str(key) in result.output


def test_cli_no_modified_dates_applies_the_basic_codes_to_dates(ct_small: Path, tmp_path: Path) -> None:
    key, one = _key_file(tmp_path), tmp_path / "one.dcm"
    args = ["deid-dicom", str(ct_small), "--out", str(one), "--key-file", str(key), "--no-modified-dates"]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    out = pydicom.dcmread(one)
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    assert not out.StudyDate
    assert not out.get("AcquisitionDate")  # X/Z: emptied (or absent), not shifted
    assert "113107" not in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
