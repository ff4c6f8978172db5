"""Fixtures for the DICOM de-identification tests: private copies of pydicom's files and a small study."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest
from dicom_helpers import dicom_testfile


@pytest.fixture
def ct_small(tmp_path: Path) -> Path:
    """A private copy of CT_small.dcm, so a test can never change pydicom's own file."""
    dst = tmp_path / "in" / "CT_small.dcm"
    dst.parent.mkdir()
    shutil.copyfile(dicom_testfile("CT_small.dcm"), dst)
    return dst


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A three-instance 'study' made from CT_small: same patient, study and series, new SOP instances."""
    src = dicom_testfile("CT_small.dcm")
    folder = tmp_path / "study" / "KIM^MINSU"  # a source folder named after the patient, as archives often are
    folder.mkdir(parents=True)
    for i in range(3):
        ds = pydicom.dcmread(src)
        uid = f"{ds.SOPInstanceUID}.{i + 1}"
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.InstanceNumber = i + 1
        ds.ContentDate = f"2004011{i + 1}"  # different dates, so intervals can be checked
        ds.save_as(folder / f"img{i + 1}.dcm")
    return tmp_path / "study"
