"""De-identify an image at the site before anything reads it: the existing DICOM de-identifier, then the pixels.

`dari.privacy.dicom.deidentify_dataset` handles the header (PS3.15 Basic Profile with keyed pseudonyms and date
shifts) and reports burned-in text; it does not scrub pixels. For an image it flags, this module blanks the four
border bands its check looks at (an eighth of the short side each, where scanners and screen grabs burn text) to
the displayed black, re-checks, and refuses the image if text-like strokes remain. The blanked copy is stored
uncompressed (explicit VR little endian); the PACS's copy is never touched (the function works on a copy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from dari.privacy.dicom import burned_in
from dari.privacy.dicom.deid import deidentify_dataset

TEXT_REASON = "text-like high-contrast strokes at the image borders"


class BurnedInTextError(ValueError):
    """Text-like strokes remain after the border bands were blanked."""


@dataclass(frozen=True)
class SiteImage:
    """A de-identified copy of one image and what was done to it."""

    dataset: Dataset
    patient_pseudonym: str
    blanked_borders: bool


def blank_borders(ds: Dataset) -> None:
    """Set the four border bands of a single-frame grayscale image to its displayed black, in place."""
    pixels = np.array(ds.pixel_array)  # decoded (pylibjpeg / pydicom), a writable copy
    band = max(4, min(pixels.shape) // 8)
    black = pixels.max() if str(ds.PhotometricInterpretation) == "MONOCHROME1" else pixels.min()
    pixels[:band, :] = black
    pixels[-band:, :] = black
    pixels[:, :band] = black
    pixels[:, -band:] = black
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = pixels.astype(np.uint8 if int(ds.BitsAllocated) == 8 else np.uint16).tobytes()
    ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) == 8 else "OW"
    ds.BurnedInAnnotation = "NO"


def deidentify_image(ds: Dataset, key: bytes) -> SiteImage:
    """A de-identified copy of `ds` (headers by the Basic Profile; flagged burned-in text blanked)."""
    report = deidentify_dataset(ds, key=key)
    out = report.dataset
    blanked = TEXT_REASON in report.burned_in or str(ds.get("BurnedInAnnotation", "")).upper() == "YES"
    if blanked:
        blank_borders(out)
        remaining, _ = burned_in.pixel_reasons(out)
        if remaining:
            raise BurnedInTextError("text-like strokes remain inside the image after blanking its borders")
    return SiteImage(out, report.patient_pseudonym, blanked)
