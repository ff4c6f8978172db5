"""The imaging model's input spec: which images it reads and how a DICOM image becomes its input tensor.

Stable names (other modules import them): `ImageSpec`, `Window`, `Normalisation`, `load_spec`, `parse_spec`,
`dump_spec`.

A spec states, as data validated at the boundary:
- scope: the modalities (CR, DX, …) and body parts (BodyPartExamined) the model is for; the gateway routes by them;
- photometric handling: MONOCHROME1 (white = low values) is inverted to MONOCHROME2 so bone is always bright;
- geometry: the pixel spacing (mm) the image is resampled to, then centre-cropped or zero-padded to `size`;
- intensity: a window (fixed centre/width in modality units, the header's first VOI window, or none) and a
  normalisation (z-score over the image, or the `percentiles` range mapped to [0, 1]).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dari.errors import InputError

Modality = Annotated[str, Field(pattern=r"^[A-Z]{2,4}$")]
BodyPart = Annotated[str, Field(pattern=r"^[A-Z0-9_ ]{1,16}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Frozen):
    """A VOI window: `header` takes the image's first WindowCenter/WindowWidth, `fixed` the values given here."""

    mode: Literal["none", "header", "fixed"] = "none"
    center: float | None = None
    width: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _fixed_needs_values(self) -> Window:
        if self.mode == "fixed" and (self.center is None or self.width is None):
            raise ValueError("a fixed window needs center and width")
        return self


class Normalisation(_Frozen):
    """Intensity normalisation after windowing."""

    mode: Literal["zscore", "percentile"] = "percentile"
    percentiles: tuple[float, float] = (1.0, 99.0)

    @model_validator(mode="after")
    def _ordered(self) -> Normalisation:
        low, high = self.percentiles
        if not 0 <= low < high <= 100:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles}")
        return self


class ImageSpec(_Frozen):
    """What the model reads and how to prepare it."""

    spec_format: Literal[1] = 1
    name: str = Field(min_length=1, max_length=128)
    modalities: tuple[Modality, ...] = Field(min_length=1)
    body_parts: tuple[BodyPart, ...] = Field(min_length=1)
    photometric: tuple[Literal["MONOCHROME1", "MONOCHROME2"], ...] = ("MONOCHROME1", "MONOCHROME2")
    invert_monochrome1: bool = True
    pixel_spacing_mm: float = Field(gt=0, le=10)
    size: tuple[Annotated[int, Field(ge=8, le=2048)], Annotated[int, Field(ge=8, le=2048)]]
    window: Window = Window()
    normalisation: Normalisation = Normalisation()
    input_name: str = "image"
    score_output: str = "score"
    heatmap_output: str = "heatmap"
    threshold: float = Field(ge=0, le=1, description="scores at or above it are findings (worklist priority)")
    finding_code: tuple[str, str, str] = Field(description="(code, scheme, meaning) of the finding, e.g. SCT")

    def in_scope(self, modality: str, body_part: str) -> bool:
        """Whether an image of this modality and body part is for this model (the gateway's routing rule)."""
        return modality.upper() in self.modalities and body_part.upper().strip() in self.body_parts


def parse_spec(text: str | bytes, *, source: str = "<image spec>") -> ImageSpec:
    """Validate an image spec from JSON; errors name the file and the field."""
    try:
        return ImageSpec.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(first["msg"], file=source, column=where or None) from None


def load_spec(path: Path) -> ImageSpec:
    """Read and validate an image spec JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read image spec: {exc.strerror}", file=str(path)) from None
    return parse_spec(text, source=str(path))


def dump_spec(spec: ImageSpec) -> str:
    """The spec as JSON text ending in a newline."""
    return json.dumps(spec.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
