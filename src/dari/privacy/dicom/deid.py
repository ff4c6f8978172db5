"""De-identify one dataset: PS3.15 Annex E Basic Profile, Retain Longitudinal Modified Dates, Clean Descriptors."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from dari.privacy.dicom import burned_in, keyed
from dari.privacy.dicom.table import Rule, load_rules, resolve

TextCleaner = Callable[[str], str]

METHOD = [
    "DICOM PS3.15 E.1 Basic Application Confidentiality Profile",
    "Retain Longitudinal Temporal Information Modified Dates",
    "Clean Descriptors Option",
    "dari",
]
METHOD_CODES = [
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113105", "Clean Descriptors Option"),
]
PSEUDONYMISED = {0x00100010, 0x00100020}  # PatientName, PatientID: replaced by the keyed pseudonym
TEXT_VRS = {"LT", "ST", "UT"}
BYTES_VRS = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}
# Unlisted UIDs that name a kind of thing (not an instance), so they identify nobody and must survive.
CLASS_UID_KEYWORDS = {"TransferSyntaxUID", "CodingSchemeUID", "ContextGroupExtensionCreatorUID", "MappingResourceUID"}
DICOM_UID_ROOT = "1.2.840.10008."
# VR maximum lengths, for trimming a cleaner's output so the value stays valid.
MAX_LEN = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "ST": 1024, "LT": 10240, "PN": 64}
DUMMY: dict[str, object] = {
    "PN": "ANONYMOUS", "LO": "ANONYMOUS", "SH": "ANONYMOUS", "CS": "ANONYMOUS", "AE": "ANONYMOUS",
    "LT": "ANONYMOUS", "ST": "ANONYMOUS", "UT": "ANONYMOUS", "UC": "ANONYMOUS",
    "DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y", "IS": "0", "DS": "0",
    "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0,
}  # fmt: skip


@dataclass
class DeidReport:
    """What de-identifying one dataset did; `dataset` is the de-identified copy (the input is untouched)."""

    dataset: Dataset
    patient_pseudonym: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    actions: dict[str, int] = field(default_factory=dict)
    burned_in: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def needs_review(self) -> bool:
        """True when the pixels may carry burned-in identifying text."""
        return bool(self.burned_in)


@dataclass
class _Context:
    key: bytes
    days: int
    prefix: str
    cleaner: TextCleaner | None
    pseudonym: str
    modified_dates: bool = True
    counts: Counter[str] = field(default_factory=Counter)


def _values(elem: DataElement) -> list[str]:
    value = elem.value
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | MultiValue):
        return [str(v) for v in value]
    return [str(value)]


def _set(elem: DataElement, values: list[str]) -> None:
    # An empty value (Z) rather than removal keeps Type 2 attributes present.
    elem.value = values if len(values) > 1 else (values[0] if values else None)


def _empty(elem: DataElement) -> None:
    elem.value = Sequence() if elem.VR == "SQ" else None


def _shift(elem: DataElement, ctx: _Context) -> None:
    if elem.VR == "TM":
        return  # whole-day offsets leave the time of day as it was
    shifter = keyed.shift_da if elem.VR == "DA" else keyed.shift_dt
    shifted = [shifter(v, ctx.days) for v in _values(elem)]
    if any(s is None for s in shifted):
        ctx.counts["date-unparsable-emptied"] += 1
        _empty(elem)
        return
    _set(elem, [s for s in shifted if s is not None])


def _clean_text(elem: DataElement, cleaner: TextCleaner) -> None:
    limit = MAX_LEN.get(elem.VR)
    cleaned = [cleaner(v)[:limit] if limit else cleaner(v) for v in _values(elem)]
    _set(elem, cleaned)


def _remap(elem: DataElement, ctx: _Context) -> None:
    _set(elem, [keyed.remap_uid(ctx.key, v) for v in _values(elem)])


def _unlisted_action(elem: DataElement, ctx: _Context) -> str:
    """Safety net for attributes the table does not list (later editions, retired ones): names, dates, UIDs, text."""
    if elem.VR == "PN":
        return "Z"
    if elem.VR in {"DA", "DT"}:
        return "C-date" if ctx.modified_dates else "Z"
    if elem.VR == "UI":
        keep = elem.keyword.endswith("ClassUID") or elem.keyword in CLASS_UID_KEYWORDS
        return "K" if keep or all(v.startswith(DICOM_UID_ROOT) for v in _values(elem)) else "U"
    if elem.VR in TEXT_VRS:
        return "C-text"
    return "K"


def _action_for(rule: Rule | None, elem: DataElement, ctx: _Context) -> str:
    if rule is None:
        action = _unlisted_action(elem, ctx)
        if action != "K":
            ctx.counts["unlisted-" + action] += 1
        return action
    if ctx.modified_dates and rule.modified_dates == "C" and elem.VR in {"DA", "DT", "TM"} and rule.basic != "X":
        # The option's C is taken where the basic code keeps the attribute (Z, D, X/Z…): those dates carry the
        # study's timeline. Where the basic code is plain X the date is removed, so nothing the Basic Profile
        # removes is ever left (stricter than the option requires).
        return "C-date"
    if rule.clean_descriptors == "C" and ctx.cleaner is not None and elem.VR != "SQ":
        return "C-text"
    return resolve(rule.basic)


def _clean(ds: Dataset, ctx: _Context, rules: dict[int, Rule], *, top: bool = True) -> None:
    for tag in list(ds.keys()):
        btag = BaseTag(tag)
        if btag.is_private:
            del ds[tag]
            ctx.counts["private-X"] += 1
            continue
        if btag.group & 0xFF00 in (0x5000, 0x6000):
            # Curves (50xx) and overlays (60xx) may draw names or annotations; the whole group goes.
            del ds[tag]
            ctx.counts["curve-overlay-X"] += 1
            continue
        elem = ds[tag]
        if btag in PSEUDONYMISED:
            # The top level names this file's patient: name and ID both become that patient's pseudonym.
            # Nested occurrences (another person, e.g. a mother) get the pseudonym of their own value.
            values = [ctx.pseudonym] if top else [keyed.pseudonym(ctx.key, v, ctx.prefix) for v in _values(elem)]
            _set(elem, values)
            ctx.counts["pseudonym"] += 1
            continue
        action = _action_for(rules.get(btag), elem, ctx)
        ctx.counts[action[0]] += 1
        _apply(ds, btag, elem, action, ctx, rules)


def _apply(ds: Dataset, tag: BaseTag, elem: DataElement, action: str, ctx: _Context, rules: dict[int, Rule]) -> None:
    if action == "X" or (action == "C-text" and ctx.cleaner is None):
        del ds[tag]
    elif elem.VR == "SQ":
        if action in {"K", "U"}:
            # Keep the structure and clean inside it; U on a reference sequence means "remap the UIDs inside".
            for item in elem.value:
                _clean(item, ctx, rules, top=False)
        else:
            # Z and D on a sequence: no items, because an item of dummy values would still need cleaning rules.
            _empty(elem)
    elif action == "Z":
        _empty(elem)
    elif action == "D" and elem.VR == "UI":
        _remap(elem, ctx)  # a keyed UID is the non-empty dummy a UID needs, and stays consistent across files
    elif action == "D" and elem.VR in BYTES_VRS:
        elem.value = b"\x00\x00"  # non-empty (D, not Z) and an even length, as OB/OW values must be
    elif action == "D":
        _set(elem, [str(DUMMY[elem.VR])] if elem.VR in DUMMY else [])
    elif action == "U":
        _remap(elem, ctx)
    elif action == "C-date":
        _shift(elem, ctx)
    elif action == "C-text" and ctx.cleaner is not None:
        _clean_text(elem, ctx.cleaner)


def _mark(ds: Dataset, descriptors_cleaned: bool, modified_dates: bool) -> None:
    ds.PatientIdentityRemoved = "YES"
    # PS3.3 C.12.1.1.7.1: REMOVED when dates and times went as their basic code says, MODIFIED when shifted.
    ds.LongitudinalTemporalInformationModified = "MODIFIED" if modified_dates else "REMOVED"
    method = [m for m in METHOD if modified_dates or "Modified Dates" not in m]
    ds.DeidentificationMethod = method + (["descriptors cleaned by callback"] if descriptors_cleaned else [])
    codes = Sequence()
    for value, meaning in METHOD_CODES:
        if value == "113107" and not modified_dates:
            continue
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = codes


def patient_identity(ds: Dataset) -> tuple[str, str | None]:
    """The value the pseudonym and date shift derive from: the PatientID, else the study, else the instance.

    Files without a PatientID must not share one pseudonym and one date shift (that would merge unrelated
    patients), so they fall back to the StudyInstanceUID: the files of one study stay together, and two
    studies without an ID are two pseudonymous patients. The prefixes keep the three spaces apart.
    """
    patient_id = str(ds.get("PatientID", "") or "")
    if patient_id.strip():
        return patient_id, None  # as written, so pseudonyms made before this fallback existed do not change
    study = str(ds.get("StudyInstanceUID", "") or "").strip()
    if study:
        return "study:" + study, "no PatientID: pseudonym and date offset derived from the StudyInstanceUID"
    instance = str(ds.get("SOPInstanceUID", "") or "").strip()
    return "instance:" + instance, "no PatientID or StudyInstanceUID: pseudonym and date offset for this file only"


def deidentify_dataset(
    ds: Dataset,
    *,
    key: bytes,
    text_cleaner: TextCleaner | None = None,
    pseudonym_prefix: str = "DARI",
    check_pixels: bool = True,
    modified_dates: bool = True,
) -> DeidReport:
    """De-identify a copy of `ds` with the site `key`; the report carries the copy and what was done.

    `modified_dates=False` applies the Basic Profile's own codes to dates and times (removed, emptied or
    dummied) instead of the Retain Longitudinal Temporal Information with Modified Dates option.
    """
    if not key:
        raise ValueError("the site key must not be empty")
    identity, note = patient_identity(ds)
    out = copy.deepcopy(ds)
    ctx = _Context(
        key=key,
        days=keyed.day_offset(key, identity),
        prefix=pseudonym_prefix,
        cleaner=text_cleaner,
        pseudonym=keyed.pseudonym(key, identity, pseudonym_prefix),
        modified_dates=modified_dates,
    )
    notes = [note] if note else []
    _clean(out, ctx, load_rules())
    _mark(out, text_cleaner is not None, modified_dates)
    meta = getattr(out, "file_meta", None)
    if meta is not None:
        # SourceApplicationEntityTitle (and sending/receiving AE titles) name stations; private information
        # in the file meta is as unknown as any private attribute.
        for tag in (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102):
            meta.pop(tag, None)
        if "SOPInstanceUID" in out:
            meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
        elif str(meta.get("MediaStorageSOPInstanceUID", "") or "").strip():
            # A DICOMDIR or fragment has no SOPInstanceUID of its own: the meta's UID is remapped (U) all the same.
            meta.MediaStorageSOPInstanceUID = keyed.remap_uid(key, str(meta.MediaStorageSOPInstanceUID))
    reasons = burned_in.metadata_reasons(out)
    if check_pixels:
        pixel, note = burned_in.pixel_reasons(out)
        reasons += pixel
        notes += [note] if note else []
    return DeidReport(
        dataset=out,
        patient_pseudonym=ctx.pseudonym,
        sop_instance_uid=str(out.get("SOPInstanceUID", "")),
        study_instance_uid=str(out.get("StudyInstanceUID", "")),
        series_instance_uid=str(out.get("SeriesInstanceUID", "")),
        actions=dict(sorted(ctx.counts.items())),
        burned_in=reasons,
        notes=notes,
    )
