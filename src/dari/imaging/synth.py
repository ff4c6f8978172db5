"""Synthetic imaging studies for a site: valid DICOM radiographs (DX/CR) and CT slices of the site's own patients.

`synth_site_studies(site_dir, n_studies, seed)` reads the site's source extract (`extract/manifest.json` and
`patients.csv`, as `dari synth` writes them), gives each study to one of its adult patients, and writes
`site_dir/imaging/studies/<StudyInstanceUID>.dcm` (one study, one series, one image) and
`site_dir/imaging/truth.csv` (the ground truth, see `TRUTH_COLUMNS` and docs/imaging.md), both atomically.

Headers carry the identifiers a hospital's images carry (PatientName, PatientID = the hospital patient number,
birth date, sex, the Korean name as PatientName's ideographic component, accession number, institution,
referring physician, station); some images have the patient's number, name and birth date burned into a corner,
while their BurnedInAnnotation says NO (as real headers do), so the de-identification's pixel check finds them.
Everything is deterministic for a seed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

from dari.atomic import atomic_dir
from dari.errors import InputError
from dari.imaging import phantoms
from dari.imaging.site_profiles import ImagingSite, Scanner, imaging_site

DX_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
CR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.1")
CT_IMAGE = UID("1.2.840.10008.5.1.4.1.1.2")
SOP_CLASS = {"DX": DX_FOR_PRESENTATION, "CR": CR_IMAGE, "CT": CT_IMAGE}
STUDY_FROM = date(2023, 1, 2)
STUDY_DAYS = 700
TRUTH_COLUMNS = (
    "study_uid", "series_uid", "sop_uid", "patient_no", "study_date", "modality", "manufacturer", "model",
    "scanner", "pixel_spacing_mm", "rows", "columns", "bits_stored", "photometric", "transfer_syntax", "lesion",
    "lesion_col", "lesion_row", "lesion_x_mm", "lesion_y_mm", "lesion_radius_mm", "lesion_contrast", "burned_in",
)  # fmt: skip


@dataclass(frozen=True)
class Patient:
    """The identifiers of one source patient that an image header carries."""

    patient_no: str
    name_ko: str
    name_en: str
    sex: str
    birth_date: date


@dataclass(frozen=True)
class TruthRow:
    """The ground truth of one synthetic image (one row of truth.csv)."""

    study_uid: str
    series_uid: str
    sop_uid: str
    patient_no: str
    study_date: str
    modality: str
    manufacturer: str
    model: str
    scanner: str
    pixel_spacing_mm: float
    rows: int
    columns: int
    bits_stored: int
    photometric: str
    transfer_syntax: str
    lesion: int
    lesion_col: float | None
    lesion_row: float | None
    lesion_x_mm: float | None
    lesion_y_mm: float | None
    lesion_radius_mm: float | None
    lesion_contrast: float | None
    burned_in: int


def read_patients(site_dir: Path) -> list[Patient]:
    """The site's source patients (extract/patients.csv in the manifest's encoding and date format)."""
    manifest_path = site_dir / "extract" / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the extract manifest: {type(exc).__name__}", file=str(manifest_path)) from None
    encoding = str(manifest.get("encoding", "utf-8"))
    date_format = str(manifest.get("date_format", "%Y-%m-%d"))
    sex_codes = {str(k): str(v) for k, v in (manifest.get("sex_codes") or {"M": "M", "F": "F"}).items()}
    path = site_dir / "extract" / "patients.csv"
    patients: list[Patient] = []
    try:
        with path.open(encoding=encoding, newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    born = datetime.strptime(row["birth_date"], date_format).date()
                except (KeyError, ValueError):
                    raise InputError("birth_date missing or not in the manifest's date format", file=str(path),
                                     row=line, column="birth_date") from None  # fmt: skip
                sex = sex_codes.get(row.get("sex", ""), "O")
                patients.append(Patient(row["patient_no"], row.get("name", ""), row.get("name_en", ""), sex, born))
    except OSError as exc:
        raise InputError(f"cannot read patients: {exc.strerror}", file=str(path)) from None
    if not patients:
        raise InputError("no patients in the extract", file=str(path))
    return patients


def _uid(*parts: object) -> UID:
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _pick_scanner(rng: np.random.Generator, site: ImagingSite) -> Scanner:
    shares = np.array([s.share for s in site.scanners])
    return site.scanners[int(rng.choice(len(site.scanners), p=shares / shares.sum()))]


def _burn_text(image: npt.NDArray[Any], lines: list[str]) -> npt.NDArray[Any]:
    """Burn white text into the top-left corner (display orientation: bright = white)."""
    height = image.shape[0]
    mask = Image.new("L", (image.shape[1], height), 0)
    draw = ImageDraw.Draw(mask)
    font = ImageFont.load_default(size=max(8, height // 28))
    for i, text in enumerate(lines):
        draw.text((4, 3 + i * (height // 24)), text, fill=255, font=font)
    burned = np.asarray(mask) > 127
    out = image.copy()
    out[burned] = 1.0
    return out


def _person_name(name_en: str, name_ko: str) -> str:
    """Alphabetic and ideographic components (PS3.5 6.2.1.1), as Korean PACS write them: KIM^MINJUN=김^민준."""
    family, _, given = name_en.strip().partition(" ")
    alphabetic = f"{family}^{given}" if given else family
    korean = name_ko.strip()
    return f"{alphabetic}={korean[:1]}^{korean[1:]}" if len(korean) > 1 else alphabetic


def _base_dataset(
    site: ImagingSite, scanner: Scanner, patient: Patient, study_day: date, index: int, seed: int
) -> Dataset:
    """Patient, study, series, equipment and SOP common attributes."""
    study_uid = _uid("study", site.site_id, seed, index)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = SOP_CLASS[scanner.modality]
    ds.SOPInstanceUID = _uid("sop", site.site_id, seed, index)
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = _uid("series", site.site_id, seed, index)
    ds.PatientName = _person_name(patient.name_en, patient.name_ko)
    ds.PatientID = patient.patient_no
    ds.IssuerOfPatientID = site.station_prefix
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    ds.PatientSex = patient.sex if patient.sex in ("M", "F") else "O"
    age = (study_day - patient.birth_date).days // 365
    ds.PatientAge = f"{min(age, 999):03d}Y"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_day.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = f"{8 + index % 10:02d}{index % 60:02d}00"
    ds.AccessionNumber = f"{site.station_prefix[:4]}{seed % 100:02d}{index:08d}"
    ds.StudyID = f"{index % 100000:05d}"
    ds.ReferringPhysicianName = "KIM^MINJUN"
    ds.StudyDescription = "CHEST PA" if scanner.modality != "CT" else "CT CHEST"
    ds.Modality = scanner.modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = scanner.manufacturer
    ds.ManufacturerModelName = scanner.model
    ds.InstitutionName = site.institution
    ds.StationName = f"{site.station_prefix[:10]}-{scanner.key[-4:].upper()}"
    ds.BodyPartExamined = "CHEST"
    ds.PatientOrientation = ["L", "F"] if scanner.modality != "CT" else ""
    ds.BurnedInAnnotation = "NO"  # as most headers say, burned-in text or not
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return ds


def _pixel_module(ds: Dataset, pixels: npt.NDArray[Any], bits: int, photometric: str) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.BitsAllocated = 8 if bits <= 8 else 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint8 if bits <= 8 else np.uint16).tobytes()


def _radiograph_attributes(ds: Dataset, scanner: Scanner) -> None:
    spacing = [f"{scanner.spacing_mm:g}", f"{scanner.spacing_mm:g}"]
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ViewPosition = "PA"
    ds.ImagerPixelSpacing = spacing
    ds.PixelSpacing = spacing
    ds.PixelSpacingCalibrationType = "GEOMETRY"
    ds.PixelSpacingCalibrationDescription = "no magnification correction"
    ds.DistanceSourceToDetector = "1800"
    ds.KVP = "120"
    top = (1 << scanner.bits) - 1
    ds.WindowCenter = f"{top / 2:.1f}"
    ds.WindowWidth = f"{top:.1f}"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    if scanner.modality == "DX":
        ds.EstimatedRadiographicMagnificationFactor = "1.0"
        ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImageLaterality = "U"
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = 1
        ds.PresentationLUTShape = "INVERSE" if scanner.photometric == "MONOCHROME1" else "IDENTITY"
        ds.DetectorType = "SCINTILLATOR"
        ds.PositionerType = "NONE"
        ds.LossyImageCompression = "00"
        ds.ViewCodeSequence = Sequence([_code("399348003", "SCT", "postero-anterior")])
        ds.AcquisitionContextSequence = Sequence()
        ds.AnatomicRegionSequence = Sequence([_code("51185008", "SCT", "Chest")])


def _ct_attributes(ds: Dataset, scanner: Scanner, index: int) -> None:
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PixelSpacing = [f"{scanner.spacing_mm:g}", f"{scanner.spacing_mm:g}"]
    ds.SliceThickness = "5"
    ds.KVP = "120"
    ds.FrameOfReferenceUID = _uid("for", ds.StudyInstanceUID)
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = ["-200", "-200", f"{-100 - index % 50:.1f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = ds.ImagePositionPatient[2]
    ds.PatientPosition = "HFS"
    ds.AcquisitionNumber = 1
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "-600"
    ds.WindowWidth = "1500"
    ds.ConvolutionKernel = "B30f"


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _encode(ds: Dataset, pixels: npt.NDArray[Any], scanner: Scanner) -> None:
    """Write the pixels in the scanner's transfer syntax (pydicom/pylibjpeg encoders; Pillow for JPEG baseline)."""
    if scanner.transfer_syntax == ExplicitVRLittleEndian:
        return
    if scanner.transfer_syntax == JPEGBaseline8Bit:
        buffer = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8), mode="L").save(buffer, format="JPEG", quality=90)
        ds.PixelData = encapsulate([buffer.getvalue()])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.LossyImageCompression = "01"
        ratio = pixels.size / max(1, len(buffer.getvalue()))
        ds.LossyImageCompressionRatio = f"{ratio:.2f}"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        return
    ds.compress(scanner.transfer_syntax, pixels, generate_instance_uid=False)


def make_study(site: ImagingSite, patient: Patient, index: int, seed: int) -> tuple[Dataset, TruthRow]:
    """One synthetic study (a single image) of `patient` and its ground truth."""
    rng = _rng("imaging", site.site_id, seed, index)
    scanner = _pick_scanner(rng, site)
    study_day = STUDY_FROM + timedelta(days=int(rng.integers(0, STUDY_DAYS)))
    study_day = max(study_day, patient.birth_date + timedelta(days=1))
    has_lesion = bool(rng.uniform() < site.prevalence)
    is_ct = scanner.modality == "CT"
    lesion = phantoms.draw_lesion(rng, scanner.spacing_mm, scanner.lesion_contrast, axial=is_ct) if has_lesion else None
    burned = (not is_ct) and bool(rng.uniform() < site.burned_in_share)
    ds = _base_dataset(site, scanner, patient, study_day, index, seed)
    if is_ct:
        pixels = phantoms.quantise_ct(phantoms.ct_slice(rng, scanner, lesion), scanner.bits)
        _pixel_module(ds, pixels, scanner.bits, "MONOCHROME2")
        _ct_attributes(ds, scanner, index)
    else:
        image = phantoms.radiograph(rng, scanner, lesion)
        if burned:
            born = patient.birth_date.strftime("%Y-%m-%d")
            image = _burn_text(image, [f"{patient.patient_no} {patient.name_en}", f"DOB {born} {patient.sex}"])
        pixels = phantoms.quantise(image, scanner.bits, scanner.photometric)
        _pixel_module(ds, pixels, scanner.bits, scanner.photometric)
        _radiograph_attributes(ds, scanner)
    _encode(ds, pixels, scanner)
    truth = TruthRow(
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_uid=str(ds.SOPInstanceUID),
        patient_no=patient.patient_no,
        study_date=str(ds.StudyDate),
        modality=scanner.modality,
        manufacturer=scanner.manufacturer,
        model=scanner.model,
        scanner=scanner.key,
        pixel_spacing_mm=scanner.spacing_mm,
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        bits_stored=scanner.bits,
        photometric=str(ds.PhotometricInterpretation),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        lesion=int(has_lesion),
        lesion_col=round(lesion.col, 2) if lesion else None,
        lesion_row=round(lesion.row, 2) if lesion else None,
        lesion_x_mm=round(lesion.x_mm, 2) if lesion else None,
        lesion_y_mm=round(lesion.y_mm, 2) if lesion else None,
        lesion_radius_mm=round(lesion.radius_mm, 2) if lesion else None,
        lesion_contrast=round(lesion.contrast, 4) if lesion else None,
        burned_in=int(burned),
    )
    return ds, truth


def synth_site_studies(site_dir: Path, n_studies: int, seed: int = 7, site_id: str | None = None) -> list[TruthRow]:
    """Write `n_studies` studies of the site's adult patients to site_dir/imaging/ (replacing what was there)."""
    if n_studies < 1:
        raise ValueError(f"n_studies must be at least 1, got {n_studies}")
    site = imaging_site(site_id or site_dir.name)
    adults = [p for p in read_patients(site_dir) if (STUDY_FROM - p.birth_date).days >= 18 * 365]
    if not adults:
        raise InputError("no adult patients to image", file=str(site_dir / "extract" / "patients.csv"))
    chooser = _rng("patients", site.site_id, seed)
    chosen = chooser.choice(len(adults), size=n_studies, replace=n_studies > len(adults))
    rows: list[TruthRow] = []
    with atomic_dir(site_dir / "imaging") as tmp:
        (tmp / "studies").mkdir()
        for index, which in enumerate(chosen):
            ds, truth = make_study(site, adults[int(which)], index, seed)
            ds.save_as(tmp / "studies" / f"{truth.study_uid}.dcm", enforce_file_format=True)
            rows.append(truth)
        with (tmp / "truth.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=TRUTH_COLUMNS)
            writer.writeheader()
            writer.writerows(asdict(r) for r in rows)
    return rows


def read_truth(site_dir: Path) -> list[dict[str, str]]:
    """The rows of site_dir/imaging/truth.csv."""
    path = site_dir / "imaging" / "truth.csv"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as exc:
        raise InputError(f"cannot read the imaging ground truth: {exc.strerror}", file=str(path)) from None
