"""DICOM de-identification on every file pydicom ships (offline), checked against PS3.15 Table E.1-1 (2024b).

The integration engineer's checklist: each test names the artefact, what broke before, and what happens now.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from dari.errors import InputError
from dari.privacy.dicom import deidentify_dataset, deidentify_file, keyed, read_dicom
from dari.privacy.dicom.table import load_rules, pattern_rule, resolve

KEY = b"outside-site-key-0123456789abcdef"
DATE_VRS = {"DA", "DT", "TM"}
ICON = 0x00880200
ROOT = Path(pydicom.data.__file__).parent / "test_files"


def _read(path: str) -> Dataset | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's test files are deliberately odd; its warnings are not ours
        try:
            return pydicom.dcmread(path)
        except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError):
            return None


def _readable() -> list[str]:
    return sorted(p for p in get_testdata_files() if Path(p).is_file() and _read(p) is not None)


FILES = _readable()


def _id(path: str) -> str:
    return str(Path(path).relative_to(ROOT)) if Path(path).is_relative_to(ROOT) else Path(path).name


def _walk(ds: Dataset) -> Iterator[DataElement]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield from ds.iterall()


def _left_behind(out: Dataset) -> list[str]:
    """Attributes still in the output that the Basic Profile removes (code X, private, curve, overlay, icon)."""
    rules, left = load_rules(), []
    for elem in _walk(out):
        rule = rules.get(elem.tag) or pattern_rule(elem.tag)
        if elem.tag == ICON or elem.tag.is_private or elem.tag.group & 0xFF00 in (0x5000, 0x6000):
            left.append(f"{elem.tag} {elem.keyword}")
        elif rule is not None and rule.basic == "X":  # dates too: dari shifts only those the profile keeps
            left.append(f"{elem.tag} {rule.keyword}")
    return left


def _values(elem: DataElement) -> set[str]:
    value = elem.value
    if elem.VR == "SQ" or value is None or value == "" or isinstance(value, bytes):
        return set()
    items = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
    return {str(v) for v in items if str(v).strip()}


def _kept_values(orig: Dataset, out: Dataset) -> list[str]:
    """Z, D and U attributes of the table whose original non-empty value is still in the output."""
    rules = load_rules()
    before: dict[int, set[str]] = {}
    for elem in _walk(orig):
        rule = rules.get(elem.tag)
        if rule is not None and resolve(rule.basic) in {"Z", "D", "U"} and elem.VR not in DATE_VRS:
            before.setdefault(elem.tag, set()).update(_values(elem))
    kept = []
    for elem in _walk(out):
        same = _values(elem) & before.get(elem.tag, set())
        if same and elem.tag not in (0x00100010, 0x00100020):  # name and ID: the pseudonym, checked below
            kept.append(f"{elem.tag} {elem.keyword}")
    return kept


def test_the_checks_flag_an_untouched_file() -> None:
    """The checks below can fail: on CT_small.dcm as pydicom ships it they find what the profile removes."""
    path = pydicom.data.get_testdata_file("CT_small.dcm", download=False)
    assert path is not None
    orig = pydicom.dcmread(path)
    assert _left_behind(orig) != []
    assert _kept_values(orig, orig) != []


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_pydicom_file_leaves_nothing_the_basic_profile_removes(path: str) -> None:
    """pydicom's file: before, the Icon Image Sequence, RT/waveform/trial attributes and nested identifiers
    passed through (212 of 621 rows); now no attribute the profile removes is left at any depth, no private,
    curve or overlay tag, and no Z/D/U attribute keeps its original value."""
    # Prepare
    orig = _read(path)
    assert orig is not None
    # Execute
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = deidentify_dataset(orig, key=KEY, check_pixels=False).dataset
    # Assert
    assert _left_behind(out) == []
    assert _kept_values(orig, out) == []
    assert out.PatientIdentityRemoved == "YES"
    meta_uid = str(getattr(orig, "file_meta", Dataset()).get("MediaStorageSOPInstanceUID", "") or "").strip()
    if meta_uid:  # the file meta follows the new SOPInstanceUID, or (DICOMDIR, fragment) is remapped itself
        own = str(orig.get("SOPInstanceUID", "") or "") or meta_uid
        assert out.file_meta.MediaStorageSOPInstanceUID == keyed.remap_uid(KEY, own)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        if str(orig.get(keyword, "") or "").strip():
            assert out[keyword].value == keyed.remap_uid(KEY, str(orig[keyword].value)), keyword


INSTANCES = [p for p in FILES if not Path(p).name.upper().startswith("DICOMDIR")]


@pytest.mark.parametrize("path", INSTANCES, ids=_id)
def test_pydicom_file_written_is_valid_dicom(path: str, tmp_path: Path) -> None:
    """pydicom's file, written by deidentify_file: re-read by dari's strict reader, the file meta follows the new
    SOP Instance UID, transfer syntax and pixels unchanged. Files dari's reader refuses (fragments without a
    SOP Instance UID, truncated pixels) are refused with an InputError naming the file, never a traceback."""
    # Prepare
    src = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            orig = read_dicom(src)
    except InputError as exc:
        assert exc.file == str(src)
        pytest.skip(f"refused by dari's strict reader: {exc}")
    # Execute
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deidentify_file(src, tmp_path / "out.dcm", key=KEY, check_pixels=False)
        back = read_dicom(tmp_path / "out.dcm")
    # Assert
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID == keyed.remap_uid(KEY, orig.SOPInstanceUID)
    assert back.file_meta.TransferSyntaxUID == orig.file_meta.TransferSyntaxUID
    assert back.get("PixelData") == orig.get("PixelData")
    assert _left_behind(back) == []


def test_uids_are_remapped_consistently_across_pydicom_files() -> None:
    """All pydicom files together: the same original UID, wherever it appears (a file's own UIDs, references in
    other files' sequences), maps to one new UID; no instance UID of the input is left anywhere."""
    rules = load_rules()
    seen: dict[str, str] = {}
    for path in FILES:
        orig = _read(path)
        assert orig is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = deidentify_dataset(orig, key=KEY, check_pixels=False).dataset
        coded_u = (e for e in _walk(orig) if e.VR == "UI" and e.tag in rules and rules[e.tag].basic == "U")
        uids = {v for e in coded_u for v in _values(e)}
        left = {v for e in _walk(out) if e.VR == "UI" for v in _values(e)} & uids
        assert left == set(), _id(path)
        for uid in uids:
            assert seen.setdefault(uid, keyed.remap_uid(KEY, uid)) == keyed.remap_uid(KEY, uid)
    assert len(seen) > 100


def test_icon_image_sequence_is_removed_at_every_depth() -> None:
    """CT_small.dcm with an Icon Image Sequence (a thumbnail that can show burned-in names) at the top and inside
    a Referenced Image Sequence item: before, it was kept with its pixels; now it is gone at both depths."""
    # Prepare
    path = pydicom.data.get_testdata_file("CT_small.dcm", download=False)
    assert path is not None
    ds = pydicom.dcmread(path)
    icon = Dataset()
    icon.Rows, icon.Columns, icon.PixelData = 8, 8, b"\x01" * 64
    ds.IconImageSequence = [icon]
    ref = Dataset()
    ref.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    ref.IconImageSequence = [icon]
    ds.ReferencedImageSequence = [ref]
    # Execute
    out = deidentify_dataset(ds, key=KEY, check_pixels=False).dataset
    # Assert
    assert ICON not in [e.tag for e in out.iterall()]
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == keyed.remap_uid(KEY, ds.SOPInstanceUID)


def test_files_without_patient_id_are_split_per_study() -> None:
    """MR_small.dcm without PatientID, as two studies: before, every ID-less file got one pseudonym and one date
    shift (unrelated patients merged); now each study gets its own, and files of one study share theirs."""
    # Prepare
    path = pydicom.data.get_testdata_file("MR_small.dcm", download=False)
    assert path is not None
    studies = []
    for study, patient_id in (("1.2.3.4.1", ""), ("1.2.3.4.1", None), ("1.2.3.4.2", "")):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = study
        if patient_id is None:
            del ds.PatientID
        else:
            ds.PatientID = patient_id
        studies.append(ds)
    # Execute
    reports = [deidentify_dataset(ds, key=KEY, check_pixels=False) for ds in studies]
    # Assert
    first, same_study, other = reports
    assert first.patient_pseudonym == same_study.patient_pseudonym != other.patient_pseudonym
    assert first.dataset.StudyDate == same_study.dataset.StudyDate != other.dataset.StudyDate
    assert first.dataset.PatientID == first.patient_pseudonym
    assert any("StudyInstanceUID" in note for note in first.notes)


def test_basic_profile_without_the_dates_option_removes_dates_too() -> None:
    """All pydicom files with modified_dates=False (CLI --no-modified-dates): the Basic Profile's own codes for
    dates and times, so no X-coded date is left, Z-coded dates are empty, and the file says REMOVED."""
    rules = load_rules()
    for path in FILES:
        orig = _read(path)
        assert orig is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = deidentify_dataset(orig, key=KEY, check_pixels=False, modified_dates=False).dataset
        assert _left_behind(out) == [], _id(path)
        assert out.LongitudinalTemporalInformationModified == "REMOVED"
        for elem in _walk(out):
            rule = rules.get(elem.tag)
            if rule is not None and rule.basic == "Z" and elem.VR in DATE_VRS:
                assert not _values(elem), (_id(path), elem.keyword)
