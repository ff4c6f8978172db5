"""The model's outputs as DICOM and FHIR: the TID 1500 SR (codes, the source instance referenced, the model as the
observing device), the heatmap secondary capture, both passing dciodvfy and reading back in pydicom; the Bundle."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from imgmodel_images import radiograph
from pydicom import Dataset, dcmread

from dari.imaging.fhir_outputs import fhir_bundle
from dari.imaging.model import ImageScore, ImagingModel
from dari.imaging.overlay import overlay_image
from dari.imaging.sr import dataset_bytes, dciodvfy_path, measurement_report, validate_dicom


@pytest.fixture(scope="module")
def scored() -> tuple[Dataset, ImageScore, ImagingModel]:
    model = ImagingModel.reference()
    ds, _ = radiograph("site-1", lesion=True)
    return ds, model.score(ds), model


def _items(seq: Any) -> Iterator[Dataset]:
    for item in seq:
        yield item
        if "ContentSequence" in item:
            yield from _items(item.ContentSequence)


def test_sr_content_codes_and_references(scored: tuple[Dataset, ImageScore, ImagingModel]) -> None:
    # Prepare
    source, result, model = scored
    # Execute: build, write, read back
    data = dataset_bytes(measurement_report(source, result, model))
    sr = dcmread(io.BytesIO(data))
    # Assert: a TID 1500 report in the source's study, with the finding, where it is, and who found it
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert sr.StudyInstanceUID == source.StudyInstanceUID and sr.SeriesInstanceUID != source.SeriesInstanceUID
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    items = list(_items(sr.ContentSequence))
    names = {
        (i.ConceptNameCodeSequence[0].CodingSchemeDesignator, i.ConceptNameCodeSequence[0].CodeValue) for i in items
    }
    values = {(c.CodingSchemeDesignator, c.CodeValue) for i in items for c in i.get("ConceptCodeSequence", [])}
    assert ("DCM", "111012") in names  # Certainty of Finding
    assert ("DCM", "121071") in names  # Finding: Present / Absent
    assert ("SCT", "27925004") in values and ("SCT", "39607008") in values  # Nodule, in the lung
    assert ("DCM", "121053" if result.finding else "121054") in values
    texts = {i.TextValue for i in items if "TextValue" in i}
    assert model.card.name in texts and model.card.version in texts  # algorithm identification
    assert any(t == f"sha256={model.sha256}" for t in texts)
    circle = next(i for i in items if i.ValueType == "SCOORD")
    assert circle.GraphicType == "CIRCLE"
    referenced = circle.ContentSequence[0].ReferencedSOPSequence[0]
    assert referenced.ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert referenced.ReferencedSOPClassUID == source.SOPClassUID
    cx, cy = circle.GraphicData[:2]
    assert 0 <= cx < source.Columns and 0 <= cy < source.Rows
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    if dciodvfy_path() is None:
        pytest.skip("dciodvfy (dicom3tools) not installed: highdicom's own checks ran at construction")
    check = validate_dicom(data)
    assert check.ok, check.errors


def test_overlay_and_fhir_outputs(scored: tuple[Dataset, ImageScore, ImagingModel]) -> None:
    # Prepare
    source, result, model = scored
    # Execute
    data = dataset_bytes(overlay_image(source, result, model))
    sc = dcmread(io.BytesIO(data))
    bundle = fhir_bundle(source, result, model, sr_sop_instance_uid="1.2.3.4")
    # Assert: an RGB secondary capture aligned with the source, referencing it, in its study
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and sc.PhotometricInterpretation == "RGB"
    assert (sc.Rows, sc.Columns) == (source.Rows, source.Columns)
    assert sc.StudyInstanceUID == source.StudyInstanceUID
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert sc.pixel_array.shape == (source.Rows, source.Columns, 3)
    if dciodvfy_path() is not None:
        check = validate_dicom(data)
        assert check.ok, check.errors
    # Assert: the FHIR Bundle's study, observation and report agree with the score
    resources = {e.resource.get_resource_type(): e.resource for e in bundle.entry}
    assert set(resources) == {"ImagingStudy", "Observation", "DiagnosticReport"}
    assert resources["ImagingStudy"].series[0].instance[0].uid == source.SOPInstanceUID
    obs = resources["Observation"]
    assert float(obs.valueQuantity.value) == pytest.approx(result.score * 100, abs=0.01)
    assert obs.interpretation[0].coding[0].code == ("H" if result.finding else "N")
    assert resources["DiagnosticReport"].identifier[0].value == "urn:oid:1.2.3.4"
