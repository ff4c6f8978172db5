"""Code systems, LOINC panels and UCUM units as EHRs send them: the FHIR path's view of `dari.models.units`.

The table (`dari/models/data/fhir_terms.json`) and its functions live in `dari.models.units`, shared with the CDM
path so both convert units alike; they are re-exported here for the FHIR modules.
"""

from __future__ import annotations

from dari.models.units import (
    MASS,
    MOLAR,
    FhirTerms,
    canonical_unit,
    fhir_terms,
    panels_carrying,
    system_name,
    unit_factor,
)

__all__ = [
    "MASS",
    "MOLAR",
    "FhirTerms",
    "canonical_unit",
    "fhir_terms",
    "panels_carrying",
    "system_name",
    "unit_factor",
]
