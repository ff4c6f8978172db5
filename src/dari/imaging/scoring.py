"""What scores an image in a validation job: the `ImageScorer` protocol and its implementations.

`ImageScorer` has an identity (`sha256`, checked against the job's declared hash, as the tabular job checks its
ONNX file), `check(ds)` that refuses what it cannot read (`ImageRefusedError` with a reason code) and `score(ds)`, a
probability in [0, 1]. `ModelScorer.load(folder)` wraps an imaging model of `dari.imaging.model.ImagingModel`
(ONNX Runtime, its image spec and card). `MatchedFilterScorer` is a classical computer-aided detection
baseline (a scale-normalised Laplacian-of-Gaussian blob filter at the lesion sizes, maximum inside the lungs'
central field, a fixed logistic map): transparent, needs no training, and lets the validation run and be tested on
its own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID
from scipy import ndimage

IMAGE_SOP_CLASSES = frozenset(
    {"1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.2"}
)  # CR, DX for presentation, CT


class ImageRefusedError(ValueError):
    """An image the scorer cannot use; `reason` is a short code (not_image, multi_frame, …)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class ImageScorer(Protocol):
    """Scores one de-identified image."""

    @property
    def sha256(self) -> str:
        """The scorer's identity (the model file's SHA-256)."""
        ...

    def check(self, ds: Dataset) -> None:
        """Raise `ImageRefusedError` when the image cannot be scored."""
        ...

    def score(self, ds: Dataset) -> float:
        """The probability of a finding in the image."""
        ...


def basic_check(ds: Dataset, modalities: tuple[str, ...]) -> None:
    """Refusals every scorer shares: SOP class, frames, photometric, decodable syntax, pixel spacing, modality."""
    sop = str(ds.get("SOPClassUID", ""))
    if sop not in IMAGE_SOP_CLASSES or "PixelData" not in ds:
        raise ImageRefusedError("not_image", f"SOP class {sop or 'missing'} is not a radiograph or CT image")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise ImageRefusedError("multi_frame", f"{ds.NumberOfFrames} frames; one frame is read")
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImageRefusedError("unsupported_photometric", f"photometric interpretation {photometric or 'missing'}")
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", ""))) if "file_meta" in dir(ds) else UID("")
    try:
        available = get_decoder(syntax).is_available
    except (NotImplementedError, ValueError):
        available = False
    if not available:
        raise ImageRefusedError("unsupported_transfer_syntax", f"no decoder installed for transfer syntax {syntax}")
    if not (ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")):
        raise ImageRefusedError("missing_pixel_spacing", "neither PixelSpacing nor ImagerPixelSpacing is present")
    if str(ds.get("Modality", "")) not in modalities:
        raise ImageRefusedError(
            "out_of_scope", f"modality {ds.get('Modality', 'missing')} is not {'/'.join(modalities)}"
        )


def displayed(ds: Dataset) -> npt.NDArray[np.float64]:
    """The decoded frame in modality units, MONOCHROME1 turned the other way (bright = more attenuation)."""
    try:
        pixels = np.asarray(ds.pixel_array, dtype=np.float64)
    except Exception as exc:  # any decoder error: the file's pixels are damaged
        raise ImageRefusedError("decode_failed", f"pixels cannot be decoded ({type(exc).__name__})") from None
    pixels = pixels * float(ds.get("RescaleSlope", 1) or 1) + float(ds.get("RescaleIntercept", 0) or 0)
    if str(ds.PhotometricInterpretation) == "MONOCHROME1":
        pixels = -pixels
    return pixels


@dataclass(frozen=True)
class MatchedFilterScorer:
    """LoG blob detector at 2 mm: the strongest lesion-sized bright blob inside the lung fields, mapped to [0, 1]."""

    spacing_mm: float = 2.0
    radii_mm: tuple[float, ...] = (6.0, 10.0, 14.0)
    intercept: float = -7.6
    gain: float = 15.0
    modalities: tuple[str, ...] = ("DX", "CR")

    @property
    def sha256(self) -> str:
        """SHA-256 of the filter's parameters (its identity as a 'model')."""
        params = {"kind": "log-matched-filter", "spacing_mm": self.spacing_mm, "radii_mm": self.radii_mm,
                  "intercept": self.intercept, "gain": self.gain, "modalities": self.modalities}  # fmt: skip
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()

    def check(self, ds: Dataset) -> None:
        """The shared refusals."""
        basic_check(ds, self.modalities)

    def score(self, ds: Dataset) -> float:
        """Resample to `spacing_mm`, normalise by the image's 1st–99th percentiles, filter, take the max."""
        image = displayed(ds)
        spacing = float((ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing"))[0])
        image = ndimage.zoom(image, spacing / self.spacing_mm, order=1)
        low, high = np.percentile(image, (1, 99))
        image = (image - low) / max(high - low, 1e-9)
        # the lung fields: darker than the body's median once smoothed, eroded so their edges do not ring
        smooth = ndimage.gaussian_filter(image, 8.0 / self.spacing_mm)
        body = smooth > 0.15
        lungs = body & (smooth < np.median(smooth[body])) if body.any() else body
        lungs = ndimage.binary_erosion(lungs, iterations=max(1, round(6.0 / self.spacing_mm)))
        border = max(1, min(image.shape) // 8)  # where text is burned in, never lung
        lungs[:border], lungs[-border:], lungs[:, :border], lungs[:, -border:] = False, False, False, False
        if not lungs.any():
            lungs = np.ones_like(image, dtype=bool)
        best = -np.inf
        for radius in self.radii_mm:
            sigma = radius / np.sqrt(2) / self.spacing_mm
            # determinant of the Hessian: high for round bright blobs, near zero along ridges such as ribs
            hxx = ndimage.gaussian_filter(image, sigma, order=(0, 2))
            hyy = ndimage.gaussian_filter(image, sigma, order=(2, 0))
            hxy = ndimage.gaussian_filter(image, sigma, order=(1, 1))
            det = sigma**4 * (hxx * hyy - hxy**2)
            response = np.sqrt(np.clip(det, 0.0, None)) * ((hxx + hyy) < 0)
            best = max(best, float(response[lungs].max()))
        return float(1.0 / (1.0 + np.exp(-(self.intercept + self.gain * best * 10.0))))


class ModelScorer:
    """An imaging model of `dari.imaging.model` (ONNX Runtime, its image spec) as a validation job's scorer.

    Pickles without its ONNX Runtime session (Flower's simulation ships the site app to worker processes): each
    process loads the folder again, the card's hashes checked again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._model: Any = None
        self._sha256 = str(self.model.sha256)

    @classmethod
    def load(cls, folder: Path) -> ModelScorer:
        """The model folder (model.onnx, spec.json, card.json), its hashes checked by `ImagingModel.load`."""
        return cls(folder)

    @property
    def model(self) -> Any:
        """The loaded `ImagingModel` (loaded on first use in this process)."""
        if self._model is None:
            from dari.imaging.model import ImagingModel

            self._model = ImagingModel.load(self.folder)
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "_model": None, "_sha256": self._sha256}

    @property
    def sha256(self) -> str:
        """The ONNX file's SHA-256 its model card pins."""
        return self._sha256

    def check(self, ds: Dataset) -> None:
        """The model's own refusals (`dari.imaging.preprocess.check_image`), as `ImageRefusedError`."""
        from dari.imaging.preprocess import ImageRefusedError as ModelRefusedError
        from dari.imaging.preprocess import check_image

        try:
            check_image(ds, self.model.spec)
        except ModelRefusedError as exc:
            raise ImageRefusedError(exc.reason, str(exc)) from None

    def score(self, ds: Dataset) -> float:
        """The model's probability for the image."""
        from dari.imaging.preprocess import ImageRefusedError as ModelRefusedError

        try:
            return float(self.model.score(ds).score)
        except ModelRefusedError as exc:
            raise ImageRefusedError(exc.reason, str(exc)) from None
