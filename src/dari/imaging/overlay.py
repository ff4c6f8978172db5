"""The heatmap for the viewer: a DICOM Secondary Capture (RGB) of the source image with the model's map over it.

Built with highdicom (`SCImage.from_ref_dataset`, so patient and study are the source's and the overlay lands in
the same study, series 9902). The grey image is the source as the model saw it (modality LUT, MONOCHROME1
inverted) windowed to its 1st–99th percentiles at the source's own resolution, so the overlay lines up with the
original pixel for pixel; the heatmap (the model's own activation map, `dari.imaging.model`) is brought back from
the tensor grid with the preprocessing geometry and blended in red where it exceeds `floor`. The overlay
references its source in SourceImageSequence and says what it is in DerivationDescription.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
import numpy.typing as npt
from pydicom import Dataset
from pydicom.uid import generate_uid

from dari.imaging.model import ImageScore, ImagingModel

OVERLAY_SERIES_NUMBER = 9902


def heatmap_on_source(result: ImageScore) -> npt.NDArray[np.float32]:
    """The heatmap resampled (nearest) onto the source image's pixel grid; 0 outside the model's field."""
    g = result.preprocessed.geometry
    rows, cols = g.source_shape
    h, w = result.heatmap.shape
    r = np.floor((np.arange(rows) + 0.5) / g.scale[0] - g.offset[0]).astype(np.int64)
    c = np.floor((np.arange(cols) + 0.5) / g.scale[1] - g.offset[1]).astype(np.int64)
    inside = (r[:, None] >= 0) & (r[:, None] < h) & (c[None, :] >= 0) & (c[None, :] < w)
    mapped = result.heatmap[np.clip(r, 0, h - 1)[:, None], np.clip(c, 0, w - 1)[None, :]]
    out: npt.NDArray[np.float32] = np.where(inside, mapped, 0.0).astype(np.float32)
    return out


def _grey(source: Dataset) -> npt.NDArray[np.float64]:
    from pydicom.pixels.processing import apply_modality_lut

    image = np.asarray(apply_modality_lut(source.pixel_array, source), dtype=np.float64)
    if str(source.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        image = -image
    low, high = (float(v) for v in np.percentile(image, (1, 99)))
    grey: npt.NDArray[np.float64] = np.clip((image - low) / ((high - low) or 1.0), 0, 1)
    return grey


def overlay_image(
    source: Dataset, result: ImageScore, model: ImagingModel, *, floor: float = 0.2, alpha: float = 0.6
) -> hd.sc.SCImage:
    """An RGB secondary capture of `source` with the heatmap blended in red where it is above `floor`."""
    grey = _grey(source)
    heat = heatmap_on_source(result)
    weight = np.where(heat > floor, alpha * (heat - floor) / (1 - floor), 0.0)
    rgb = np.stack([grey * (1 - weight) + weight, grey * (1 - weight), grey * (1 - weight)], axis=-1)
    pixels = np.round(rgb * 255).astype(np.uint8)
    orientation = source.get("PatientOrientation")
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=pixels,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        series_instance_uid=generate_uid(),
        series_number=OVERLAY_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="dari",
        patient_orientation=tuple(orientation) if orientation and len(orientation) == 2 else ("L", "F"),
        series_description=f"dari AI heatmap: {model.name}",
    )
    image.ImageType = ["DERIVED", "SECONDARY"]
    image.BurnedInAnnotation = "NO"
    image.Laterality = source.get("Laterality", "")  # Type 2C: present (empty for an unpaired part such as the chest)
    image.DerivationDescription = (
        f"{model.name} activation map (score {result.score:.3f}, threshold {model.spec.threshold}) over the source"
    )[:1024]
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    image.SourceImageSequence = [reference]
    return image
