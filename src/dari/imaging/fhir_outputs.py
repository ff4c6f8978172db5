"""The model's finding for the EHR: FHIR R4 ImagingStudy, Observation and DiagnosticReport (fhir.resources.R4B).

One Bundle (type collection) per scored image:
- ImagingStudy: the study, series and instance by their DICOM UIDs (identifier `urn:dicom:uid`), the modality
  coded in DICOM DCM, the PACS's DICOMweb endpoint when known;
- Observation: SNOMED CT 27925004 "Nodule" (the spec's finding code), category imaging, the score as a
  valueQuantity in %, interpretation H (at or above the declared threshold: the worklist priority flag) or N,
  derivedFrom the ImagingStudy, method naming the model, its version and the first 12 hex digits of its SHA-256;
- DiagnosticReport: LOINC 18748-4 "Diagnostic imaging study", status preliminary (a model's output awaits a
  radiologist), the ImagingStudy, the Observation, a conclusion in Korean and English, and the SR's SOP instance
  UID in `identifier` so the EHR can ask the PACS for the DICOM report.

The patient is referenced by identifier (the PACS's PatientID under the site's system), the way an EHR matches a
PACS order; the resources never leave the site.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydicom import Dataset

from dari.imaging.model import ImageScore, ImagingModel

DICOM_UID = "urn:dicom:uid"
PATIENT_SYSTEM = "urn:dari:site:pacs-patient-id"
SNOMED, LOINC, DCM = "http://snomed.info/sct", "http://loinc.org", "http://dicom.nema.org/resources/ontology/DCM"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
SYSTEMS = {"SCT": SNOMED, "LN": LOINC, "DCM": DCM}


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def fhir_bundle(
    source: Dataset,
    result: ImageScore,
    model: ImagingModel,
    *,
    sr_sop_instance_uid: str | None,
    endpoint: str | None = None,
    at: datetime | None = None,
) -> Bundle:
    """ImagingStudy + Observation + DiagnosticReport for one scored image, as a validated R4 Bundle."""
    when = (at or datetime.now(UTC)).isoformat()
    study_ref, obs_ref, report_ref = _urn(), _urn(), _urn()
    subject = {"identifier": {"system": PATIENT_SYSTEM, "value": str(source.get("PatientID", "") or "unknown")}}
    modality = str(source.get("Modality", ""))
    study: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "identifier": [{"system": DICOM_UID, "value": f"urn:oid:{source.StudyInstanceUID}"}],
        "subject": subject,
        "modality": [{"system": DCM, "code": modality}],
        "numberOfSeries": 1,
        "numberOfInstances": 1,
        "series": [
            {
                "uid": str(source.SeriesInstanceUID),
                "modality": {"system": DCM, "code": modality},
                "bodySite": {"system": SNOMED, "code": "51185008", "display": "Chest"},
                "instance": [
                    {
                        "uid": str(source.SOPInstanceUID),
                        "sopClass": {"system": DICOM_UID, "code": f"urn:oid:{source.SOPClassUID}"},
                    }
                ],
            }
        ],
    }
    if source.get("AccessionNumber"):
        study["identifier"].append({"type": {"text": "accession"}, "value": str(source.AccessionNumber)})
    if endpoint:
        study["endpoint"] = [{"display": f"DICOMweb {endpoint}"}]
    code, scheme, meaning = model.spec.finding_code
    finding = {"system": SYSTEMS.get(scheme, scheme), "code": code, "display": meaning}
    flag = "H" if result.finding else "N"
    observation = {
        "resourceType": "Observation",
        "status": "preliminary",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "imaging"}]}
        ],
        "code": {"coding": [finding], "text": meaning},
        "subject": subject,
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": round(result.score * 100, 2),
            "unit": "%",
            "system": "http://unitsofmeasure.org",
            "code": "%",
        },
        "interpretation": [{"coding": [{"system": INTERPRETATION, "code": flag}]}],
        "method": {"text": f"dari {model.name} (sha256 {model.sha256[:12]}), threshold {model.spec.threshold}"},
        "derivedFrom": [{"reference": study_ref}],
    }
    conclusion = (
        f"AI: {meaning} {'의심' if result.finding else '없음'} / {'suspected' if result.finding else 'not found'}"
        f" (score {result.score:.2f}, threshold {model.spec.threshold})"
    )
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "preliminary",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}],
        "code": {"coding": [{"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}]},
        "subject": subject,
        "effectiveDateTime": when,
        "issued": when,
        "imagingStudy": [{"reference": study_ref}],
        "result": [{"reference": obs_ref}],
        "conclusion": conclusion,
    }
    if sr_sop_instance_uid:
        report["identifier"] = [{"system": DICOM_UID, "value": f"urn:oid:{sr_sop_instance_uid}"}]
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": when,
            "entry": [
                {"fullUrl": study_ref, "resource": study},
                {"fullUrl": obs_ref, "resource": observation},
                {"fullUrl": report_ref, "resource": report},
            ],
        }
    )
