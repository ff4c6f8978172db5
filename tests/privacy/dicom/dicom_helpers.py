"""Shared by the DICOM de-identification tests: pydicom's bundled files (offline) and site keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

KEY = b"site-key-for-tests-0123456789abcdef"
OTHER_KEY = b"another-site-key-9876543210fedcba"
CANDIDATES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "rtplan.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle.dcm",
    "ExplVR_BigEnd.dcm",
    "image_dfl.dcm",
    "MR_small_RLE.dcm",
    "US1_UNCR.dcm",
    "emri_small.dcm",
]


def dicom_testfile(name: str) -> Path:
    """A bundled pydicom test file, or skip the test when this pydicom lacks it offline."""
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not bundled with this pydicom")
    return Path(path)
