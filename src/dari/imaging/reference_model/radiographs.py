"""Synthetic chest radiographs for the reference model: a procedural phantom per image, a scanner per site.

The phantom is drawn in millimetres (body, lungs, heart, spine, ribs, a smooth random texture) and, in half the
images, a nodule: a projected sphere of 6–15 mm radius and known contrast inside a lung. Each site's scanner differs
as real networks do: manufacturer, detector pixel spacing, bit depth, MONOCHROME1 or MONOCHROME2, detector blur,
noise, its tone curve (gamma) and the nodule contrast its beam gives. Ground truth (`Truth`) is returned beside each
Digital X-Ray (For Presentation) dataset. Everything is synthetic: names, ids and dates are made up per index.

This generator is the model's own training and test source; `dari.imaging.synth` (the PACS side) makes the
site studies with identifiers, burned-in text and compression for the federated validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

DX_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
FOV_MM = 400.0
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Scanner:
    """How one site's detector turns the phantom into stored pixel values."""

    site: str
    manufacturer: str
    model: str
    spacing_mm: float
    bits: int
    photometric: str
    blur_mm: float
    noise: float
    gamma: float
    nodule_contrast: float  # scales every nodule's contrast (beam quality)


SCANNERS = {
    "site-1": Scanner("site-1", "Hanbit Medical", "HB-DR 500", 0.5, 12, "MONOCHROME2", 0.6, 0.012, 1.0, 1.0),
    "site-2": Scanner("site-2", "Baekdu Imaging", "BD-X7", 0.7, 10, "MONOCHROME2", 1.2, 0.03, 0.75, 0.85),
    "site-3": Scanner("site-3", "Jeju Systems", "JS-CR 2", 0.4, 14, "MONOCHROME1", 0.9, 0.02, 1.3, 0.8),
}


@dataclass(frozen=True)
class Truth:
    """Ground truth of one image: nodule or not, its centre (source pixel column, row), radius and contrast."""

    has_nodule: bool
    center_px: tuple[float, float] | None
    radius_mm: float | None
    contrast: float | None


def _phantom(rng: np.random.Generator, n: int, nodule: bool, contrast_scale: float) -> tuple[FloatArray, Truth]:
    from scipy.ndimage import gaussian_filter

    step = FOV_MM / n
    axis = (np.arange(n) + 0.5) * step - FOV_MM / 2
    y, x = np.meshgrid(axis, axis, indexing="ij")
    sx, sy = rng.normal(1.0, 0.04), rng.normal(1.0, 0.04)  # body habitus
    img = 0.35 * ((x / (170 * sx)) ** 2 + (y / (190 * sy)) ** 2 <= 1)
    lungs = np.zeros_like(img, dtype=bool)
    for side in (-1, 1):
        lungs |= ((x - side * 75 * sx) / (60 * sx)) ** 2 + ((y + 10) / (120 * sy)) ** 2 <= 1
    img = img - 0.22 * lungs
    img = img + 0.2 * ((((x - 20) / 55) ** 2 + ((y - 40) / 50) ** 2) <= 1)
    img = img + 0.3 * (np.abs(x) < 15) * (np.abs(y) < 190 * sy)
    for i in range(9):
        yi = -125 + 28 * i
        img = img + 0.07 * (np.abs(y - yi - 0.004 * x**2) < 4) * (np.abs(x) < 150) * (np.abs(x) > 15)
    texture = gaussian_filter(rng.normal(size=img.shape), 8.0 / step)
    img = img + 0.02 * texture / (texture.std() or 1.0)
    truth = Truth(False, None, None, None)
    if nodule:
        while True:
            cx, cy = rng.uniform(-140, 140), rng.uniform(-130, 110)
            ix, iy = int((cx + FOV_MM / 2) / step), int((cy + FOV_MM / 2) / step)
            if lungs[iy, ix]:
                break
        radius, contrast = float(rng.uniform(6, 15)), float(rng.uniform(0.12, 0.3)) * contrast_scale
        d2 = (x - cx) ** 2 + (y - cy) ** 2
        img = img + contrast * np.sqrt(np.clip(1 - d2 / radius**2, 0, None))
        truth = Truth(True, ((cx + FOV_MM / 2) / step - 0.5, (cy + FOV_MM / 2) / step - 0.5), radius, contrast)
    return img, truth


def radiograph(site: str, index: int, *, nodule: bool, seed: int = 0) -> tuple[Dataset, Truth]:
    """One synthetic chest radiograph of `site`'s scanner (deterministic in site, index, nodule and seed)."""
    from scipy.ndimage import gaussian_filter

    scanner = SCANNERS[site]
    rng = np.random.default_rng([seed, index, int(site.split("-")[-1]), int(nodule)])
    n = round(FOV_MM / scanner.spacing_mm)
    img, truth = _phantom(rng, n, nodule, scanner.nodule_contrast)
    img = gaussian_filter(img, scanner.blur_mm / scanner.spacing_mm)
    img = np.clip(img, 0, None) ** scanner.gamma
    img = img + rng.normal(0, scanner.noise, img.shape)
    top = 2**scanner.bits - 1
    stored = np.clip(img / 0.9, 0, 1) * top
    if scanner.photometric == "MONOCHROME1":
        stored = top - stored
    return _dataset(scanner, index, stored.astype(np.uint16)), truth


def _dataset(scanner: Scanner, index: int, pixels: npt.NDArray[np.uint16]) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_PRESENTATION
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = DX_PRESENTATION, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    day = date(2025, 1, 1) + timedelta(days=index % 365)
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = day.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "090000"
    ds.AccessionNumber = f"A{index:07d}"
    ds.PatientName = f"SYNTH^{scanner.site.upper()}^{index}"
    ds.PatientID = f"{scanner.site}-{index:06d}"
    ds.PatientBirthDate, ds.PatientSex = "19600101", "O"
    ds.ReferringPhysicianName = ""
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, 1
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", "PA"
    ds.Manufacturer, ds.ManufacturerModelName = scanner.manufacturer, scanner.model
    ds.PresentationIntentType, ds.ImageType = "FOR PRESENTATION", ["ORIGINAL", "PRIMARY"]
    ds.PatientOrientation = ["L", "F"]
    ds.BurnedInAnnotation, ds.ImageLaterality = "NO", "U"
    region = Dataset()
    region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning = "51185008", "SCT", "Chest"
    ds.AnatomicRegionSequence = [region]
    ds.DetectorType, ds.PositionerType, ds.AcquisitionContextSequence = "SCINTILLATOR", "NONE", []
    ds.PresentationLUTShape = "INVERSE" if scanner.photometric == "MONOCHROME1" else "IDENTITY"
    ds.ImagerPixelSpacing = ds.PixelSpacing = [scanner.spacing_mm, scanner.spacing_mm]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, scanner.photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, scanner.bits, scanner.bits - 1, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.WindowCenter, ds.WindowWidth = 2 ** (scanner.bits - 1), 2**scanner.bits
    ds.PixelIntensityRelationship, ds.PixelIntensityRelationshipSign = "LIN", 1
    ds.LossyImageCompression = "00"
    ds.PixelData = pixels.tobytes()
    return ds
