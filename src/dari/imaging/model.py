"""An imaging model as dari serves it: an ONNX file, its image spec and its model card, run with ONNX Runtime only.

Stable names (other modules import them): `ImagingModel` (`load(folder)`, `reference()`, `score(ds)`,
`run(tensors)`), `ImageScore`, `MODEL_FILE`, `SPEC_FILE`, `CARD_FILE`.

A model folder holds `model.onnx`, `spec.json` (`dari.imaging.spec.ImageSpec`) and `card.json` (the CHAI-style
`dari.models.model_card.ModelCard`); the card pins both files by SHA-256 and a mismatch is refused at load. The
graph takes (N, 1, H, W) float32 and gives `score` (N, 1) and `heatmap` (N, 1, H, W), the model's own activation
map in the tensor's grid; `score()` maps the heatmap's peak back to the source image for the SR and the overlay.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom import Dataset

from dari.errors import InputError
from dari.imaging.preprocess import Preprocessed, preprocess
from dari.imaging.spec import ImageSpec, load_spec
from dari.models.model_card import ModelCard, load_card

MODEL_FILE, SPEC_FILE, CARD_FILE = "model.onnx", "spec.json", "card.json"
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ImageScore:
    """One image scored: probability, finding or not, the heatmap (tensor grid) and its peak in source pixels."""

    score: float
    finding: bool  # score >= the spec's threshold
    heatmap: FloatArray  # (H, W), values in [0, 1]
    peak_source: tuple[float, float]  # (column, row) in the source image: where the score came from
    radius_source: float  # a circle around the peak, in source pixels, for the SR's region
    preprocessed: Preprocessed
    inference_ms: float  # ONNX Runtime alone


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ImagingModel:
    """An ONNX imaging model with its spec and card; `score` preprocesses a dataset and runs the session."""

    def __init__(self, folder: Path, spec: ImageSpec, card: ModelCard, *, threads: int = 1) -> None:
        import onnxruntime as ort

        self.folder, self.spec, self.card = folder, spec, card
        self.sha256 = card.model_sha256
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # a site node shares its cores; the caller may give more
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])
        names = {o.name for o in self.session.get_outputs()}
        missing = {spec.score_output, spec.heatmap_output} - names
        if missing:
            raise InputError(f"the ONNX graph has no output {sorted(missing)}", file=str(folder / MODEL_FILE))

    @classmethod
    def load(cls, folder: Path, *, threads: int = 1) -> ImagingModel:
        """Read a model folder; the card's hashes must match the ONNX file and the spec."""
        for name in (MODEL_FILE, SPEC_FILE, CARD_FILE):
            if not (folder / name).is_file():
                raise InputError(f"an imaging model folder needs {name}", file=str(folder / name))
        card = load_card(folder / CARD_FILE)
        for name, pinned in ((MODEL_FILE, card.model_sha256), (SPEC_FILE, card.feature_spec_sha256)):
            if sha256_file(folder / name) != pinned:
                raise InputError(f"{name} does not match the SHA-256 its model card pins", file=str(folder / name))
        return cls(folder, load_spec(folder / SPEC_FILE), card, threads=threads)

    @classmethod
    def reference(cls, *, threads: int = 1) -> ImagingModel:
        """dari's shipped reference chest-radiograph nodule model (trained on site-1's synthetic images)."""
        return cls.load(reference_folder(), threads=threads)

    @property
    def name(self) -> str:
        """The card's name and version, e.g. `dari-cxr-nodule 0.1.0`."""
        return f"{self.card.name} {self.card.version}"

    def run(self, tensors: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The bare session: (N, 1, H, W) → scores (N,) and heatmaps (N, H, W)."""
        score, heatmap = self.session.run(
            [self.spec.score_output, self.spec.heatmap_output], {self.spec.input_name: tensors}
        )
        return np.asarray(score, dtype=np.float32)[:, 0], np.asarray(heatmap, dtype=np.float32)[:, 0]

    def score(self, ds: Dataset, *, name: str | None = None) -> ImageScore:
        """Preprocess by the spec (refusing what cannot be read, `ImageRefusedError`) and score one image."""
        prepared = preprocess(ds, self.spec, name=name)
        started = time.perf_counter()
        scores, heatmaps = self.run(prepared.tensor)
        inference_ms = (time.perf_counter() - started) * 1000
        heatmap = heatmaps[0]
        row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
        peak = prepared.geometry.to_source(float(row), float(col))
        # A circle of 10 mm around the peak: the reference model's nodules are 6–15 mm in radius.
        radius = 10.0 / prepared.pixel_spacing_mm
        value = float(scores[0])
        return ImageScore(value, value >= self.spec.threshold, heatmap, peak, radius, prepared, inference_ms)


def reference_folder() -> Path:
    """Where the shipped reference model lives in the package."""
    return Path(str(files("dari.imaging.reference_model") / "data"))
