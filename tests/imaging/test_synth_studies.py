"""Synthetic imaging studies: valid DICOM (pydicom, dciodvfy), the site differences, identifiers and burned-in
text present before de-identification and gone after it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pacs_sites import make_site

from dari.imaging.site_deid import deidentify_image
from dari.imaging.synth import read_truth, synth_site_studies
from dari.privacy.dicom import burned_in

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("imaging-sites")
    out = {}
    for site, encoding, fmt in (
        ("site-1", "utf-8", "%Y-%m-%d"),
        ("site-2", "cp949", "%Y%m%d"),
        ("site-3", "utf-8", "%Y-%m-%d"),
    ):
        folder = make_site(root / site, 40, encoding=encoding, date_format=fmt)
        synth_site_studies(folder, 24, seed=11)
        out[site] = folder
    return out


def _files(folder: Path) -> list[Path]:
    return sorted((folder / "imaging" / "studies").glob("*.dcm"))


def test_synth_files_read_back_and_pass_dciodvfy(sites: dict[str, Path]) -> None:
    # Prepare
    validator = shutil.which("dciodvfy")
    if validator is None:
        pytest.skip("dciodvfy not installed (Debian: apt-get install dicom3tools)")
    files = [f for folder in sites.values() for f in _files(folder)]

    # Execute: every pixel array decodes; dciodvfy over one file of each scanner
    decoded = [pydicom.dcmread(f).pixel_array.shape for f in files]
    by_scanner: dict[str, Path] = {}
    for folder in sites.values():
        for row in read_truth(folder):
            by_scanner.setdefault(row["scanner"], folder / "imaging" / "studies" / f"{row['study_uid']}.dcm")
    outputs = {k: subprocess.run([validator, str(f)], capture_output=True, text=True) for k, f in by_scanner.items()}

    # Assert
    assert len(decoded) == 72 and all(len(s) == 2 for s in decoded)
    assert len(by_scanner) >= 8  # the three sites' units nearly all drawn
    problems = {
        k: [ln for ln in o.stderr.splitlines() if ln.startswith(("Error", "Warning"))] for k, o in outputs.items()
    }
    assert problems == {k: [] for k in outputs}  # no error and no warning remains


def test_synth_site_differences_present(sites: dict[str, Path]) -> None:
    # Execute
    rows = [r for folder in sites.values() for r in read_truth(folder)]

    # Assert
    assert {r["manufacturer"] for r in rows} >= {"Samsung Electronics", "FUJIFILM Corporation", "Carestream Health"}
    assert {r["photometric"] for r in rows} == {"MONOCHROME1", "MONOCHROME2"}
    assert {r["bits_stored"] for r in rows} >= {"8", "10", "12", "14"}
    assert {r["modality"] for r in rows} == {"DX", "CR", "CT"}
    syntaxes = {r["transfer_syntax"] for r in rows}
    assert syntaxes >= {
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.5",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.50",
    }
    assert len({r["pixel_spacing_mm"] for r in rows}) >= 4
    lesions = [r for r in rows if r["lesion"] == "1"]
    assert 8 <= len(lesions) <= 40 and all(5 <= float(r["lesion_radius_mm"]) <= 15 for r in lesions)


def test_synth_links_to_the_site_patients(sites: dict[str, Path]) -> None:
    # Prepare
    folder = sites["site-2"]  # its extract is CP949 with YYYYMMDD dates and 남/여
    row = read_truth(folder)[0]

    # Execute
    ds = pydicom.dcmread(folder / "imaging" / "studies" / f"{row['study_uid']}.dcm")

    # Assert
    assert ds.PatientID == row["patient_no"] and 50100000 <= int(ds.PatientID) < 50100040
    assert "=" in str(ds.PatientName) and ds.PatientSex in ("M", "F") and len(ds.PatientBirthDate) == 8


def test_synth_identifiers_and_burned_in_text_gone_after_deid(sites: dict[str, Path]) -> None:
    # Prepare
    burned = [(folder, r) for folder in sites.values() for r in read_truth(folder) if r["burned_in"] == "1"]
    assert burned, "some images carry burned-in text"

    for folder, row in burned:
        ds = pydicom.dcmread(folder / "imaging" / "studies" / f"{row['study_uid']}.dcm")
        before, _ = burned_in.pixel_reasons(ds)

        # Execute
        image = deidentify_image(ds, KEY)

        # Assert
        out = image.dataset
        after, _ = burned_in.pixel_reasons(out)
        assert before and not after and image.blanked_borders, row["scanner"]
        assert row["patient_no"] not in str(out.PatientID) and "KIM" not in str(out.PatientName)
        assert str(out.PatientBirthDate) != str(ds.PatientBirthDate)
        assert not out.get("AccessionNumber")
        assert out.StudyInstanceUID != ds.StudyInstanceUID
        assert np.array_equal(
            pydicom.dcmread(folder / "imaging" / "studies" / f"{row['study_uid']}.dcm").PixelData, ds.PixelData
        )


def test_synth_cli_writes_studies_and_refuses_a_folder_without_extract(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from dari.cli.imaging import app

    # Prepare
    folder = make_site(tmp_path / "site-3", 12)
    runner = CliRunner()

    # Execute
    ok = runner.invoke(app, ["synth", "--site", str(folder), "--studies", "4", "--format", "json"])
    bad = runner.invoke(app, ["synth", "--site", str(tmp_path / "site-9"), "--studies", "4"])

    # Assert
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["studies"] == 4 and len(_files(folder)) == 4
    assert bad.exit_code == 2 and "manifest.json" in bad.output
