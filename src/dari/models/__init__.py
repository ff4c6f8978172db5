"""Prediction models: feature specs, CDM feature extraction, safe ONNX scoring, model cards, the reference model.

A model travels as three files: the ONNX graph, the feature spec (`features.json`: cohort, outcome and inputs as
LOINC / SNOMED CT / KCD / UCUM codes) and the model card (`model_card.json`, pinning the ONNX file's SHA-256).
The CDM path (`extract_cohort_features`) and the FHIR path (the CDS Hooks service) both turn raw values into
model rows with `assemble_inputs`, so a patient gets the same row whichever way the data came.

`dari.models.reference` trains and exports the shipped reference model; `reference_model_paths()` finds it.
"""

from dari.models.cdm_features import CohortCounts, CohortFrame, extract_cohort_features
from dari.models.feature_spec import Feature, FeatureSpec, dump_spec, load_spec, parse_spec
from dari.models.inputs import (
    AssembledBatch,
    FeatureValueError,
    age_years,
    assemble_batch,
    assemble_inputs,
    convert_to_spec_unit,
    linear_contributions,
)
from dari.models.model_card import ModelCard, dump_card, load_card, parse_card
from dari.models.onnx_model import ModelFileError, ModelOutputError, OnnxModel, sha256_file

__all__ = [
    "AssembledBatch",
    "CohortCounts",
    "CohortFrame",
    "Feature",
    "FeatureSpec",
    "FeatureValueError",
    "ModelCard",
    "ModelFileError",
    "ModelOutputError",
    "OnnxModel",
    "age_years",
    "assemble_batch",
    "assemble_inputs",
    "convert_to_spec_unit",
    "dump_card",
    "dump_spec",
    "extract_cohort_features",
    "linear_contributions",
    "load_card",
    "load_spec",
    "parse_card",
    "parse_spec",
    "sha256_file",
]
