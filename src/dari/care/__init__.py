"""Carrying a validated model into the EHR: a CDS Hooks 2.0 service with FHIR R4 inputs, JWT client
authentication, feedback, RiskAssessment output, and a test EHR client that replays a CDM site as FHIR.

The FHIR path maps resources to the feature spec's raw values and calls the same `assemble_inputs` as the CDM
path (`dari.models.extract_cohort_features`), so a patient gets the same model row whichever way the data came.
"""

from dari.care.cds_service import create_app, hook_services
from dari.care.served_model import ServedModel
from dari.care.settings import CdsSettings, IssuerConfig, RiskThresholds

__all__ = ["CdsSettings", "IssuerConfig", "RiskThresholds", "ServedModel", "create_app", "hook_services"]
