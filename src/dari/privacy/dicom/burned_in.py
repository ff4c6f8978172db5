"""Burned-in annotation: reasons an image may carry identifying text in its pixels, for a person to review.

dari does not scrub pixels; it reports. Three kinds of evidence: the BurnedInAnnotation attribute,
a modality or SOP class that commonly carries burned-in text, and text-like strokes at the borders.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

# Modalities whose images are often screen grabs or carry the scanner's own text overlay burned in.
TEXT_MODALITIES = frozenset({"US", "SC", "OT", "XC", "ES", "GM", "DOC", "SM", "IVUS", "OP"})
# SOP class prefixes: secondary capture (…1.7, …1.7.x), ultrasound (…1.6.x, …1.3.1), encapsulated documents (…104.x).
TEXT_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.7",
    "1.2.840.10008.5.1.4.1.1.6.",
    "1.2.840.10008.5.1.4.1.1.3.1",
    "1.2.840.10008.5.1.4.1.1.104.",
)


def metadata_reasons(ds: Dataset) -> list[str]:
    """Reasons from the attributes alone (no pixel decoding)."""
    reasons: list[str] = []
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        reasons.append("BurnedInAnnotation is YES")
    modality = str(ds.get("Modality", "")).strip().upper()
    if modality in TEXT_MODALITIES:
        reasons.append(f"modality {modality} often carries burned-in text")
    sop_class = str(ds.get("SOPClassUID", "")).strip()
    if sop_class.startswith(TEXT_SOP_PREFIXES):
        reasons.append(f"SOP class {sop_class} often carries burned-in text")
    return reasons


def _gray_frame(pixels: NDArray[Any], ds: Dataset) -> NDArray[np.float64]:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    arr = np.asarray(pixels, dtype=np.float64)
    if frames > 1:
        arr = arr[0]
    if samples > 1 and arr.ndim == 3:
        arr = arr.mean(axis=-1)
    if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1":
        # MONOCHROME1 stores white as low values: burned-in white text is low there, so look at it as displayed
        arr = -arr
    return arr


def text_like_borders(image: NDArray[Any]) -> bool:
    """True when a border band holds sparse, thin, bright strokes on a dark background (as text does)."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) < 16:
        return False
    lo, hi = float(np.percentile(a, 1)), float(a.max())
    if hi - lo <= 0:
        return False
    norm = (a - lo) / (hi - lo)
    band = max(4, min(a.shape) // 8)
    for region in (norm[:band], norm[-band:], norm[:, :band].T, norm[:, -band:].T):
        bright = region > 0.8
        n_bright = int(bright.sum())
        if n_bright < 8 or float((region < 0.2).mean()) < 0.6:
            continue
        fraction = n_bright / bright.size
        # Strokes of text are 1-3 pixels wide: many on/off transitions per bright pixel, unlike anatomy.
        transitions = int(np.abs(np.diff(bright.astype(np.int8), axis=1)).sum())
        if 0.002 <= fraction <= 0.3 and transitions / n_bright >= 0.5:
            return True
    return False


def pixel_reasons(ds: Dataset) -> tuple[list[str], str | None]:
    """Reasons from the pixels, and a note when the pixels could not be decoded for the check."""
    if "PixelData" not in ds:
        return [], None
    try:
        image = _gray_frame(ds.pixel_array, ds)
    except Exception as exc:  # any decoder failure (missing plugin, damaged data) only means no check
        return [], f"pixel check skipped: cannot decode pixels ({type(exc).__name__})"
    if text_like_borders(image):
        return ["text-like high-contrast strokes at the image borders"], None
    return [], None
