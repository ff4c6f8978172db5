"""deidentify_dataset: tag-by-tag against the action table, on pydicom's bundled files."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest
from dicom_helpers import CANDIDATES, KEY, OTHER_KEY, dicom_testfile
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dari.privacy.dicom import deidentify_dataset, keyed
from dari.privacy.dicom.burned_in import text_like_borders
from dari.privacy.dicom.deid import DUMMY, PSEUDONYMISED, patient_identity
from dari.privacy.dicom.table import load_rules, resolve


def _empty(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, list | Sequence) and len(value) == 0)


def _check_top_level(orig: Dataset, out: Dataset) -> None:
    rules = load_rules()
    identity = patient_identity(orig)[0]
    days = keyed.day_offset(KEY, identity)
    for elem in orig:
        tag, group = elem.tag, elem.tag.group
        if tag.is_private or group & 0xFF00 in (0x5000, 0x6000):
            assert tag not in out, elem
            continue
        if tag in PSEUDONYMISED:
            assert str(out[tag].value) == keyed.pseudonym(KEY, identity)
            continue
        rule = rules.get(tag)
        if rule is None:
            if elem.VR not in {"PN", "DA", "DT", "UI", "LT", "ST", "UT", "SQ"}:
                assert out[tag].value == elem.value, elem  # K: kept as it was
            continue
        if rule.modified_dates == "C" and elem.VR in {"DA", "DT"} and rule.basic != "X":
            shift = keyed.shift_da if elem.VR == "DA" else keyed.shift_dt
            if elem.value:
                assert out[tag].value == shift(str(elem.value), days), elem
            else:
                assert _empty(out[tag].value), elem
            continue
        if rule.modified_dates == "C" and elem.VR == "TM" and rule.basic != "X":
            assert out[tag].value == elem.value  # whole-day shift keeps the time of day
            continue
        action = resolve(rule.basic)
        if action == "X":
            assert tag not in out, elem
        elif action == "Z" or (action == "D" and elem.VR == "SQ"):
            assert _empty(out[tag].value), elem
        elif action == "D" and elem.VR in DUMMY:
            assert str(out[tag].value) == str(DUMMY[elem.VR]), elem
        elif action == "U" and elem.VR == "UI":
            assert out[tag].value == keyed.remap_uid(KEY, str(elem.value)), elem


@pytest.mark.parametrize("name", CANDIDATES)
def test_every_attribute_follows_the_table(name: str) -> None:
    orig = pydicom.dcmread(dicom_testfile(name))
    before = copy.deepcopy(orig)
    report = deidentify_dataset(orig, key=KEY)
    out = report.dataset
    assert orig == before, "the input dataset must not change"
    _check_top_level(orig, out)
    assert out.PatientIdentityRemoved == "YES"
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = [(i.CodeValue, i.CodingSchemeDesignator) for i in out.DeidentificationMethodCodeSequence]
    assert codes == [("113100", "DCM"), ("113107", "DCM"), ("113105", "DCM")]
    assert all(len(v) <= 64 for v in out.DeidentificationMethod)
    assert out.SOPInstanceUID == out.file_meta.MediaStorageSOPInstanceUID
    assert out.get("PixelData") == orig.get("PixelData")
    assert not any(e.tag.is_private for e in out.iterall())


def test_sequences_are_cleaned_recursively() -> None:
    ds = pydicom.dcmread(dicom_testfile("CT_small.dcm"))
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = "1.2.3.4.5"
    ref.add_new(0x00291010, "LO", "private inside a sequence")
    ref.InstitutionName = "Seoul Hospital"
    ds.ReferencedImageSequence = Sequence([ref])
    ds.add_new(0x60003000, "OW", b"\x00\x01" * 8)  # overlay data
    ds.add_new(0x50000010, "US", 1)  # curve group
    out = deidentify_dataset(ds, key=KEY).dataset
    item = out.ReferencedImageSequence[0]
    assert item.ReferencedSOPInstanceUID == keyed.remap_uid(KEY, "1.2.3.4.5")
    assert item.ReferencedSOPClassUID == ds.SOPClassUID
    assert 0x00291010 not in item
    assert _empty(item.InstitutionName.strip() if item.InstitutionName else "")
    assert 0x60003000 not in out and 0x50000010 not in out


def test_descriptors_removed_by_default_and_cleaned_by_callback() -> None:
    ds = pydicom.dcmread(dicom_testfile("CT_small.dcm"))
    ds.StudyDescription = "CT chest for Kim Minsu"
    ds.ImageComments = "call 010-1234-5678"
    assert "StudyDescription" not in deidentify_dataset(ds, key=KEY).dataset
    cleaned = deidentify_dataset(ds, key=KEY, text_cleaner=lambda s: s.replace("Kim Minsu", "[NAME]")).dataset
    assert cleaned.StudyDescription == "CT chest for [NAME]"
    assert cleaned.ImageComments == "call 010-1234-5678"  # the callback decides what is identifying
    assert "descriptors cleaned by callback" in cleaned.DeidentificationMethod


def test_uids_are_keyed_and_stable() -> None:
    ds = pydicom.dcmread(dicom_testfile("CT_small.dcm"))
    a, b = deidentify_dataset(ds, key=KEY), deidentify_dataset(ds, key=KEY)
    c = deidentify_dataset(ds, key=OTHER_KEY)
    assert a.sop_instance_uid == b.sop_instance_uid != c.sop_instance_uid
    assert a.study_instance_uid != ds.StudyInstanceUID
    assert a.patient_pseudonym != c.patient_pseudonym
    assert a.dataset.StudyDate != c.dataset.StudyDate or keyed.day_offset(KEY, "1CT1") == keyed.day_offset(
        OTHER_KEY, "1CT1"
    )


def test_burned_in_annotation_is_flagged() -> None:
    ds = pydicom.dcmread(dicom_testfile("CT_small.dcm"))
    assert deidentify_dataset(ds, key=KEY).burned_in == []
    ds.BurnedInAnnotation = "YES"
    assert "BurnedInAnnotation is YES" in deidentify_dataset(ds, key=KEY).burned_in
    ds.BurnedInAnnotation = "NO"
    ds.Modality = "US"
    report = deidentify_dataset(ds, key=KEY)
    assert report.needs_review and any("US" in r for r in report.burned_in)


def test_text_like_borders_are_detected_and_anatomy_is_not() -> None:
    image = np.zeros((128, 128))
    for x in range(10, 100, 8):  # a row of glyph-like strokes along the top edge
        image[4:12, x : x + 2] = 1000
        image[4:6, x : x + 5] = 1000
    assert text_like_borders(image)
    assert not text_like_borders(pydicom.dcmread(dicom_testfile("CT_small.dcm")).pixel_array)
    assert not text_like_borders(pydicom.dcmread(dicom_testfile("MR_small.dcm")).pixel_array)
    ds = pydicom.dcmread(dicom_testfile("CT_small.dcm"))
    arr = ds.pixel_array.copy()
    arr[2:10, :] = arr.min()
    arr[2:10, 10:100:8] = arr.max()
    ds.PixelData = arr.tobytes()
    assert "text-like high-contrast strokes at the image borders" in deidentify_dataset(ds, key=KEY).burned_in


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError):
        deidentify_dataset(Dataset(), key=b"")
