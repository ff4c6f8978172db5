"""Each PS3.15 E.1.1 action code, on a real attribute of the table that carries it, at the top and nested."""

from __future__ import annotations

import pydicom
import pytest
from dicom_helpers import KEY, dicom_testfile
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dari.privacy.dicom import deidentify_dataset, keyed
from dari.privacy.dicom.table import load_rules

# (keyword, VR, value, code in Table E.1-1 2024b)
CASES = [
    ("AdmissionID", "LO", "ADM-778812", "X"),
    ("PatientSex", "CS", "F", "Z"),
    ("ClinicalTrialSubjectID", "LO", "SUBJ-0042", "D"),
    ("AnnotationGroupUID", "UI", "1.2.826.0.1.3680043.99.1", "D"),
    ("EncapsulatedDocument", "OB", b"%PDF-1.4 Kim Minsu", "D"),
    ("FrameOfReferenceUID", "UI", "1.2.826.0.1.3680043.99.2", "U"),
    ("ContentCreatorName", "PN", "Lee^Jiwoo", "Z/D"),
    ("BarcodeValue", "LT", "BC-123456", "X/Z"),
    ("ProtocolName", "LO", "Kim Minsu chest protocol", "X/D"),
    ("StationName", "SH", "CT-SEOUL-3", "X/Z/D"),
]


def _item() -> Dataset:
    item = Dataset()
    for keyword, vr, value, _ in CASES:
        item.add_new(keyword, vr, value)
    return item


def _check(item: Dataset) -> None:
    by_keyword = {k: (vr, v) for k, vr, v, _ in CASES}
    assert "AdmissionID" not in item  # X: removed
    assert not item.PatientSex  # Z: empty, still present
    assert item.ClinicalTrialSubjectID == "ANONYMOUS"  # D: a dummy of the VR
    assert item.AnnotationGroupUID == keyed.remap_uid(KEY, str(by_keyword["AnnotationGroupUID"][1]))  # D on UI
    assert item.EncapsulatedDocument == b"\x00\x00"  # D on OB: non-empty, even length, nothing of the document
    assert item.FrameOfReferenceUID == keyed.remap_uid(KEY, str(by_keyword["FrameOfReferenceUID"][1]))  # U
    assert not item.ContentCreatorName  # Z/D → Z
    assert not item.BarcodeValue  # X/Z → Z
    assert item.ProtocolName == "ANONYMOUS"  # X/D → D
    assert not item.StationName  # X/Z/D → Z


def test_the_cases_carry_the_codes_they_claim() -> None:
    by_keyword = {r.keyword: r.basic for r in load_rules().values()}
    for keyword, _, _, code in CASES:
        assert by_keyword[keyword] == code, keyword


def test_each_code_at_the_top_level() -> None:
    ds = pydicom.dcmread(dicom_testfile("CT_small.dcm"))
    ds.update(_item())
    _check(deidentify_dataset(ds, key=KEY).dataset)


@pytest.mark.parametrize("depth", [1, 3])
def test_each_code_inside_nested_items_of_an_unlisted_sequence(depth: int) -> None:
    ds = pydicom.dcmread(dicom_testfile("CT_small.dcm"))
    inner = _item()
    for _ in range(depth):
        outer = Dataset()
        outer.RadiopharmaceuticalInformationSequence = Sequence([inner])  # not in the table: K, cleaned inside
        inner = outer
    ds.update(inner)
    out = deidentify_dataset(ds, key=KEY).dataset
    item = out
    for _ in range(depth):
        item = item.RadiopharmaceuticalInformationSequence[0]
    _check(item)


def test_reference_sequence_x_z_u_keeps_items_and_remaps_their_uids() -> None:
    ds = pydicom.dcmread(dicom_testfile("CT_small.dcm"))
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99.3"
    ref.ReferencedFrameNumber = 1
    ds.SourceImageSequence = Sequence([ref])  # X/Z/U*
    study = Dataset()
    study.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99.4"
    ds.ReferencedStudySequence = Sequence([study])  # X/Z: emptied
    out = deidentify_dataset(ds, key=KEY).dataset
    item = out.SourceImageSequence[0]
    assert item.ReferencedSOPInstanceUID == keyed.remap_uid(KEY, "1.2.826.0.1.3680043.99.3")
    assert item.ReferencedSOPClassUID == ds.SOPClassUID and item.ReferencedFrameNumber == 1
    assert len(out.ReferencedStudySequence) == 0
