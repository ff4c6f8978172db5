"""Procedural phantoms: a chest radiograph and an axial chest CT slice, with or without a lesion of known geometry.

Radiograph (attenuation along the beam, arbitrary units, drawn in millimetres over a 400 mm field): body ellipse
0.50, lungs −0.32, heart +0.25, spine +0.30, ribs up to +0.06, a smooth random texture (σ 0.025) for anatomy
noise, and a lesion: a projected sphere, contrast · √(1 − r²/R²), radius R 5–15 mm, contrast 0.10–0.28, centred
inside a lung. The scanner then blurs (Gaussian, `blur_mm`), applies its tone curve (gamma), adds noise and
quantises to its bit depth. High values are bright (MONOCHROME2); MONOCHROME1 stores max − value.

CT slice (Hounsfield units): air −1000, body 40, lungs −850, spine 700, lesion a solid nodule of 40 HU (a disc of
radius R); stored as HU + 1024 (RescaleIntercept −1024).

`Lesion` is the ground truth: centre (column, row) in pixels and in millimetres from the image centre, radius and
contrast. Nothing here is random beyond the `numpy.random.Generator` given, so a seed gives the same image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from dari.imaging.site_profiles import Scanner

FOV_MM = 400.0
FloatArray = npt.NDArray[np.float64]
Pixels = npt.NDArray[np.uint16]
LUNG_CENTRES_MM = ((-75.0, -10.0), (75.0, -10.0))  # (x, y) of each lung, y downwards
LUNG_AXES_MM = (55.0, 115.0)


@dataclass(frozen=True)
class Lesion:
    """Where a lesion is and what it looks like (the ground truth of one image)."""

    col: float
    row: float
    x_mm: float
    y_mm: float
    radius_mm: float
    contrast: float


def _grid(size: int, spacing: float) -> tuple[FloatArray, FloatArray]:
    centre = (size - 1) / 2
    axis = (np.arange(size, dtype=np.float64) - centre) * spacing
    return np.meshgrid(axis, axis)  # x (columns), y (rows)


def _inside(x: FloatArray, y: FloatArray, cx: float, cy: float, ax: float, ay: float) -> npt.NDArray[np.bool_]:
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def draw_lesion(rng: np.random.Generator, spacing: float, contrast_scale: float, *, axial: bool = False) -> Lesion:
    """A lesion inside one lung (its centre at most 70 % of the lung's semi-axes from the lung's centre).

    `axial`: for a CT slice, whose lungs are shorter front to back (y scaled by 0.6)."""
    cx, cy = LUNG_CENTRES_MM[int(rng.integers(0, 2))]
    angle, dist = rng.uniform(0, 2 * np.pi), np.sqrt(rng.uniform(0, 1)) * 0.7
    x = cx + dist * LUNG_AXES_MM[0] * np.cos(angle)
    y = (cy + dist * LUNG_AXES_MM[1] * np.sin(angle)) * (0.6 if axial else 1.0)
    size = round(FOV_MM / spacing)
    centre = (size - 1) / 2
    return Lesion(
        col=float(centre + x / spacing),
        row=float(centre + y / spacing),
        x_mm=float(x),
        y_mm=float(y),
        radius_mm=float(rng.uniform(5.0, 15.0)),
        contrast=float(rng.uniform(0.10, 0.28) * contrast_scale),
    )


def radiograph(rng: np.random.Generator, scanner: Scanner, lesion: Lesion | None) -> FloatArray:
    """A chest radiograph in [0, 1] (bright = more attenuation), before quantisation."""
    size = round(FOV_MM / scanner.spacing_mm)
    x, y = _grid(size, scanner.spacing_mm)
    att = np.where(_inside(x, y, 0, 20, 175, 185), 0.50, 0.0)
    lungs = np.zeros_like(att, dtype=bool)
    for cx, cy in LUNG_CENTRES_MM:
        lungs |= _inside(x, y, cx, cy, *LUNG_AXES_MM)
    att -= 0.32 * lungs
    att += 0.25 * _inside(x, y, 15, 45, 55, 50)
    att += 0.30 * (np.abs(x) < 15) * (y > -140) * (att > 0)  # the spine, from the lung apices down
    att += 0.06 * np.clip(np.sin(2 * np.pi * (y + 0.004 * x**2) / 28.0), 0, None) ** 4 * lungs
    texture = ndimage.gaussian_filter(rng.standard_normal(att.shape), sigma=6.0 / scanner.spacing_mm)
    att += 0.015 * texture / (texture.std() or 1.0) * (att > 0)
    if lesion is not None:
        r2 = ((x - lesion.x_mm) ** 2 + (y - lesion.y_mm) ** 2) / lesion.radius_mm**2
        att += lesion.contrast * np.sqrt(np.clip(1.0 - r2, 0.0, None))
    att = ndimage.gaussian_filter(att, sigma=scanner.blur_mm / scanner.spacing_mm)
    image = np.clip(att / 1.1, 0.0, 1.0) ** scanner.gamma
    image = image + rng.normal(0.0, scanner.noise, image.shape)
    return np.asarray(np.clip(image, 0.0, 1.0), dtype=np.float64)


def ct_slice(rng: np.random.Generator, scanner: Scanner, lesion: Lesion | None) -> FloatArray:
    """An axial chest CT slice in Hounsfield units."""
    size = round(FOV_MM / scanner.spacing_mm)
    x, y = _grid(size, scanner.spacing_mm)
    hu = np.full(x.shape, -1000.0)
    hu[_inside(x, y, 0, 0, 170, 120)] = 40.0
    for cx, _ in LUNG_CENTRES_MM:
        hu[_inside(x, y, cx, -5, 60, 85)] = -850.0
    hu[_inside(x, y, 0, 85, 18, 18)] = 700.0
    if lesion is not None:
        hu[_inside(x, y, lesion.x_mm, lesion.y_mm, lesion.radius_mm, lesion.radius_mm)] = 40.0
    hu = ndimage.gaussian_filter(hu, sigma=scanner.blur_mm / scanner.spacing_mm)
    return np.asarray(hu + rng.normal(0.0, 12.0, hu.shape), dtype=np.float64)


def quantise(image: FloatArray, bits: int, photometric: str) -> Pixels:
    """Stored pixel values of a [0, 1] image at `bits` bits; MONOCHROME1 stores max − value."""
    top = (1 << bits) - 1
    stored = np.rint(np.clip(image, 0.0, 1.0) * top)
    if photometric == "MONOCHROME1":
        stored = top - stored
    return stored.astype(np.uint16)


def quantise_ct(hu: FloatArray, bits: int) -> Pixels:
    """Stored CT values: HU + 1024, clipped to the bit depth."""
    return np.clip(np.rint(hu + 1024.0), 0, (1 << bits) - 1).astype(np.uint16)
