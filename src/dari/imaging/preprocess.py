"""A DICOM image becomes the model's input tensor, by its `ImageSpec`; what cannot be used is refused with a reason.

Stable names (other modules import them): `ImageRefusedError` (with `.reason`, one of `REASONS`), `read_dataset`,
`check_image`, `preprocess`, `Preprocessed`, `Geometry`.

Order: the modality LUT (RescaleSlope/Intercept), the spec's window, MONOCHROME1 inverted (negated: the
normalisation that follows removes the offset, so no bit depth is assumed), resampling to the spec's pixel spacing
(a block mean by the whole factor, then linear interpolation for the rest, so downsampling does not alias),
normalisation, then centre crop or zero pad to the spec's size. Compressed transfer syntaxes decode through
pydicom's decoders (pylibjpeg for JPEG, JPEG-LS and JPEG 2000, pydicom's own for RLE); a syntax without an
available decoder is refused, never guessed. The dataset given is never modified.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from dari.errors import InputError
from dari.imaging.spec import ImageSpec

Reason = Literal[
    "corrupt",
    "not_image",
    "multi_frame",
    "unsupported_transfer_syntax",
    "unsupported_photometric",
    "missing_pixel_spacing",
    "out_of_scope",
    "decode_failed",
]
REASONS: tuple[Reason, ...] = (
    "corrupt",
    "not_image",
    "multi_frame",
    "unsupported_transfer_syntax",
    "unsupported_photometric",
    "missing_pixel_spacing",
    "out_of_scope",
    "decode_failed",
)
# Single-frame grayscale image storage classes a radiograph or slice model can read. Secondary capture is left
# out on purpose: dari's own heatmap overlays are secondary captures and must never be scored again.
IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1": "CR Image Storage",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
}
FloatArray = npt.NDArray[np.float32]


class ImageRefusedError(InputError):
    """An image the model cannot read; `reason` is a short code (one of `REASONS`), the message says why."""

    def __init__(self, reason: Reason, message: str, *, file: str | None = None) -> None:
        self.reason: Reason = reason
        super().__init__(f"{reason}: {message}", file=file)


@dataclass(frozen=True)
class Geometry:
    """How tensor pixels map back to the source image: source = (tensor + offset + 0.5) · scale − 0.5."""

    scale: tuple[float, float]  # source pixels per tensor pixel (rows, columns)
    offset: tuple[int, int]  # crop (> 0) or pad (< 0) in resampled pixels (rows, columns)
    source_shape: tuple[int, int]

    def to_source(self, row: float, col: float) -> tuple[float, float]:
        """A tensor (row, column) as a source image (column, row), the order of DICOM SCOORD points."""
        r = (row + self.offset[0] + 0.5) * self.scale[0] - 0.5
        c = (col + self.offset[1] + 0.5) * self.scale[1] - 0.5
        return c, r


@dataclass(frozen=True)
class Preprocessed:
    """The input tensor (1, 1, H, W), how it maps to the source, and the image facts monitoring watches."""

    tensor: FloatArray
    geometry: Geometry
    pixel_spacing_mm: float  # the source's row spacing
    intensity_mean: float  # modality units, before window and normalisation
    intensity_std: float
    manufacturer: str
    photometric: str


def read_dataset(source: Path | bytes, *, name: str | None = None) -> Dataset:
    """Read a DICOM file (path or bytes); anything that is not DICOM is refused as corrupt.

    A Part 10 stream without its 128-byte preamble (what some STOW-RS clients send, and a PACS then keeps as is)
    is read too, when it starts with the file meta group (0002); nothing else is forced.
    """
    label = name or (str(source) if isinstance(source, Path) else "<bytes>")
    try:
        data = source.read_bytes() if isinstance(source, Path) else source
        no_preamble = data[128:132] != b"DICM" and data[:2] == b"\x02\x00"
        ds = dcmread(io.BytesIO(data), force=no_preamble)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        raise ImageRefusedError("corrupt", f"not a readable DICOM file ({type(exc).__name__})", file=label) from None
    if no_preamble and "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        raise ImageRefusedError("corrupt", "no file meta information", file=label)
    return ds


def _spacing(ds: Dataset) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            try:
                row, col = float(value[0]), float(value[1])
            except (TypeError, ValueError):
                return None
            return (row, col) if row > 0 and col > 0 else None
    return None


def check_image(ds: Dataset, spec: ImageSpec, *, name: str | None = None) -> tuple[float, float]:
    """Refuse what the model cannot read, with the reason; returns the pixel spacing (row, column) in mm."""
    label = name or "<dataset>"
    sop = str(ds.get("SOPClassUID", ""))
    if sop not in IMAGE_SOP_CLASSES:
        shown = UID(sop).name if sop else "no SOPClassUID"
        raise ImageRefusedError("not_image", f"SOP class {shown} is not a single-frame image class", file=label)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise ImageRefusedError("multi_frame", f"{ds.NumberOfFrames} frames; the model reads one frame", file=label)
    if "PixelData" not in ds:
        raise ImageRefusedError("corrupt", "no PixelData element", file=label)
    meta = getattr(ds, "file_meta", None)
    ts = UID(str(meta.get("TransferSyntaxUID", ""))) if meta is not None else UID("")
    if not ts:
        raise ImageRefusedError("corrupt", "no TransferSyntaxUID in the file meta", file=label)
    if ts.is_compressed:
        from pydicom.pixels.decoders.base import get_decoder

        try:
            available = get_decoder(ts).is_available
        except NotImplementedError:
            available = False
        if not available:
            raise ImageRefusedError("unsupported_transfer_syntax", f"no decoder for {ts.name} ({ts})", file=label)
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric not in spec.photometric:
        raise ImageRefusedError("unsupported_photometric", f"PhotometricInterpretation {photometric!r}", file=label)
    modality, body_part = str(ds.get("Modality", "")), str(ds.get("BodyPartExamined", ""))
    if not spec.in_scope(modality, body_part):
        raise ImageRefusedError(
            "out_of_scope", f"modality {modality!r} / body part {body_part!r} is not the model's scope", file=label
        )
    spacing = _spacing(ds)
    if spacing is None:
        raise ImageRefusedError("missing_pixel_spacing", "no positive PixelSpacing or ImagerPixelSpacing", file=label)
    return spacing


def _resample(image: npt.NDArray[np.float64], spacing: tuple[float, float], target: float) -> npt.NDArray[np.float64]:
    from scipy.ndimage import zoom

    rows, cols = image.shape
    out_shape = (max(1, round(rows * spacing[0] / target)), max(1, round(cols * spacing[1] / target)))
    kr, kc = max(1, int(target / spacing[0])), max(1, int(target / spacing[1]))
    if kr > 1 or kc > 1:
        r, c = rows // kr * kr, cols // kc * kc
        image = image[:r, :c].reshape(r // kr, kr, c // kc, kc).mean(axis=(1, 3))
    factors = (out_shape[0] / image.shape[0], out_shape[1] / image.shape[1])
    if factors == (1.0, 1.0):
        return image
    resampled: npt.NDArray[np.float64] = zoom(image, factors, order=1, mode="nearest", grid_mode=True)
    return resampled


def _normalise(image: npt.NDArray[np.float64], spec: ImageSpec) -> npt.NDArray[np.float64]:
    if spec.normalisation.mode == "zscore":
        std = float(image.std())
        return (image - float(image.mean())) / (std if std > 0 else 1.0)
    low, high = (float(v) for v in np.percentile(image, spec.normalisation.percentiles))
    clipped: npt.NDArray[np.float64] = np.clip((image - low) / ((high - low) or 1.0), 0.0, 1.0)
    return clipped


def _crop_or_pad(
    image: npt.NDArray[np.float64], size: tuple[int, int]
) -> tuple[npt.NDArray[np.float64], tuple[int, int]]:
    out = np.zeros(size, dtype=np.float64)
    offsets = []
    src_slices, dst_slices = [], []
    for axis in (0, 1):
        have, want = image.shape[axis], size[axis]
        off = (have - want) // 2  # > 0 crop, < 0 pad
        offsets.append(off)
        src_slices.append(slice(max(off, 0), max(off, 0) + min(have, want)))
        dst_slices.append(slice(max(-off, 0), max(-off, 0) + min(have, want)))
    out[dst_slices[0], dst_slices[1]] = image[src_slices[0], src_slices[1]]
    return out, (offsets[0], offsets[1])


def preprocess(ds: Dataset, spec: ImageSpec, *, name: str | None = None) -> Preprocessed:
    """Check the image, then window, invert, resample, normalise and crop it into a (1, 1, H, W) float32 tensor."""
    from pydicom.pixels.processing import apply_modality_lut

    label = name or "<dataset>"
    spacing = check_image(ds, spec, name=label)
    try:
        stored = ds.pixel_array
    except Exception as exc:  # decoders raise many types on a broken stream; all mean the same to the caller
        raise ImageRefusedError(
            "decode_failed", f"pixel data cannot be decoded ({type(exc).__name__})", file=label
        ) from None
    if stored.ndim != 2 or min(stored.shape) < 2:
        raise ImageRefusedError("corrupt", f"pixel array of shape {stored.shape} is not one frame", file=label)
    image = np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    mean, std = float(image.mean()), float(image.std())
    window = spec.window
    if window.mode != "none":
        center, width = window.center, window.width
        if window.mode == "header":
            center, width = _header_window(ds)
        if center is not None and width is not None:
            image = np.clip(image, center - width / 2, center + width / 2)
    photometric = str(ds.PhotometricInterpretation)
    if photometric == "MONOCHROME1" and spec.invert_monochrome1:
        image = -image
    resampled = _resample(image, spacing, spec.pixel_spacing_mm)
    scale = (stored.shape[0] / resampled.shape[0], stored.shape[1] / resampled.shape[1])
    normalised = _normalise(resampled, spec)
    cropped, offset = _crop_or_pad(normalised, spec.size)
    tensor = cropped.astype(np.float32)[np.newaxis, np.newaxis]
    geometry = Geometry(scale, offset, (int(stored.shape[0]), int(stored.shape[1])))
    manufacturer = str(ds.get("Manufacturer", "") or "unknown")
    return Preprocessed(tensor, geometry, spacing[0], mean, std, manufacturer, photometric)


def _header_window(ds: Dataset) -> tuple[float | None, float | None]:
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None, None
    w = _first(width)
    return (_first(center), w) if w > 0 else (None, None)


def _first(value: object) -> float:
    """The first of a multi-valued DS (several windows may be given), or the single value."""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return float(value[0])  # type: ignore[index]
    return float(value)  # type: ignore[arg-type]
