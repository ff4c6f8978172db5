"""The model's finding as a DICOM Structured Report: a TID 1500 Measurement Report built with highdicom.

What the report holds (codes from DCM and SNOMED CT, SCT):
- the observer is a device: the model, with a UID derived from its ONNX file's SHA-256, its name and version;
- one planar ROI group (TID 1410) with finding type SCT 27925004 "Nodule", finding site SCT 39607008 "Lung", the
  region as a SCOORD CIRCLE around the heatmap's peak that references the source image's SOP instance, the
  algorithm identification (name, version, and the model's SHA-256 as its parameter);
- the measurement DCM 111012 "Certainty of Finding" (the score, in %) and the qualitative evaluation DCM 121071
  "Finding" = DCM 121053 "Present" or 121054 "Absent" against the spec's declared threshold;
- procedure reported SCT 399208008 "Plain chest X-ray"; patient and study copied from the source image (the SR
  goes back into the same study), in a new series made by dari.

`validate_sr` runs dciodvfy (dicom3tools) when it is installed and reports its errors; `measurement_report`
builds the dataset, `sr_bytes` writes it as a DICOM file in memory.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from dari.imaging.model import ImageScore, ImagingModel

PROCEDURE = Code("399208008", "SCT", "Plain chest X-ray")
FINDING_SITE = Code("39607008", "SCT", "Lung")
CERTAINTY = Code("111012", "DCM", "Certainty of Finding")
PERCENT = Code("%", "UCUM", "Percent")
SR_SERIES_NUMBER = 9901  # dari's derived series in a study: SR here, the overlay in 9902


def device_uid(model_sha256: str) -> str:
    """A stable DICOM UID for the model as an observing device (the same model always has the same UID)."""
    return str(generate_uid(entropy_srcs=["dari-imaging-model", model_sha256]))


def measurement_report(source: Dataset, result: ImageScore, model: ImagingModel) -> hd.sr.ComprehensiveSR:
    """A TID 1500 report of one scored image, referencing it; a new SOP instance in a new series of its study."""
    code, scheme, meaning = model.spec.finding_code
    finding = Code(code, scheme, meaning)
    algorithm = hd.sr.AlgorithmIdentification(
        name=model.card.name, version=model.card.version, parameters=[f"sha256={model.sha256}"]
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=device_uid(model.sha256), name=model.card.name, manufacturer_name="dari", model_name=model.card.version
        ),
    )
    cx, cy = result.peak_source
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.CIRCLE,
        graphic_data=np.array([[cx, cy], [cx + result.radius_source, cy]], dtype=np.float64),
        source_image=hd.sr.SourceImageForRegion.from_source_image(source),
    )
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=f"{meaning} 1"),
        referenced_region=region,
        finding_type=finding,
        finding_sites=[hd.sr.FindingSite(anatomic_location=FINDING_SITE)],
        algorithm_id=algorithm,
        measurements=[hd.sr.Measurement(name=CERTAINTY, value=round(result.score * 100, 2), unit=PERCENT)],
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(
                name=codes.DCM.Finding, value=codes.DCM.Present if result.finding else codes.DCM.Absent
            )
        ],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=PROCEDURE,
        imaging_measurements=[group],
    )
    return hd.sr.ComprehensiveSR(
        evidence=[source],
        content=report[0],
        series_instance_uid=generate_uid(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="dari",
        series_description=f"dari AI: {model.name}",
        is_complete=True,
    )


def dataset_bytes(ds: Dataset) -> bytes:
    """A dataset as a DICOM Part 10 file in memory (preamble, file meta), as STOW-RS sends it."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@dataclass(frozen=True)
class Validation:
    """What a DICOM validator said: which validator, its errors, and its warnings."""

    validator: str
    errors: list[str]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        """No error."""
        return not self.errors


def dciodvfy_path() -> str | None:
    """dciodvfy from Debian's dicom3tools, when installed."""
    return shutil.which("dciodvfy")


def validate_dicom(data: bytes) -> Validation:
    """Run dciodvfy over a DICOM file's bytes (its IOD and module checks); `None` validator when absent."""
    tool = dciodvfy_path()
    if tool is None:
        return Validation("none (dciodvfy not installed)", [], [])
    with tempfile.TemporaryDirectory(prefix="dari-dciodvfy-") as folder:
        path = Path(folder) / "object.dcm"
        path.write_bytes(data)
        done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return Validation(
        "dciodvfy",
        [line for line in lines if line.startswith("Error")],
        [line for line in lines if line.startswith("Warning")],
    )
