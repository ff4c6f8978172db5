"""Code systems, LOINC panels and UCUM units as EHRs and CDMs hold them, declared as data (`data/fhir_terms.json`).

One table for both paths: the FHIR path (`dari.care.fhir_units`, `fhir_observations`) converts a
`valueQuantity`, the CDM path (`dari.models.cdm_concepts`) a measurement's `unit_concept_id` (by its UCUM code),
with the same factors, so a site storing kPa or µmol/L gets the same input either way.

- **Code systems**: each system dari reads (LOINC, SNOMED CT, KCD, ICD-10, UCUM) by its FHIR URL and its OID
  form (`urn:oid:…`).
- **Panels**: LOINC panels whose `component`s carry a measurement (the R4 vital-signs blood-pressure panel
  85354-9 and its older 55284-4 carry systolic 8480-6 and diastolic 8462-4).
- **Units**: spellings for one UCUM unit (`mmHg` for `mm[Hg]`, `mL/min/1.73m2` for `mL/min/{1.73_m2}`, `µmol/L`
  for `umol/L`); linear scales within one dimension (kPa ↔ mm[Hg], g/L ↔ mg/dL, mmol/L ↔ µmol/L, [lb_av] ↔ kg);
  and molar masses of analytes (creatinine 113.12 g/mol, glucose 180.156 g/mol), which alone allow a mass ↔
  molar conversion, and only for that analyte's LOINC codes.

A factor the feature spec declares (`LabCode.convert`) always wins; then the table. `mL/min` is not
`mL/min/{1.73_m2}`: a creatinine clearance is not an eGFR, so no alias joins them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from dari.models.codes import LabCode

MASS, MOLAR = "mass_concentration", "molar_concentration"


@dataclass(frozen=True)
class FhirTerms:
    """The table of `data/fhir_terms.json`, indexed for look-up."""

    systems: dict[str, str]  # system URL or OID → dari's name for it ("loinc", "snomed", "kcd", "icd10", "ucum")
    panels: dict[str, tuple[str, ...]]  # panel LOINC → the LOINC codes of its components
    aliases: dict[str, str]  # a spelling → its UCUM code
    scales: dict[str, tuple[str, float]]  # UCUM code → (dimension, factor to the dimension's base unit)
    molar_masses: dict[str, float]  # LOINC code → the analyte's molar mass in g/mol


def _index(data: dict[str, Any]) -> FhirTerms:
    systems = {url: name for name, urls in data["systems"].items() for url in urls}
    panels = {code: tuple(members) for code, members in data["panels"].items()}
    aliases = {unit: unit for unit in data["unit_aliases"]}
    aliases |= {spelling: unit for unit, spellings in data["unit_aliases"].items() for spelling in spellings}
    scales = {unit: (dim, float(f)) for dim, units in data["scales"].items() for unit, f in units.items()}
    molar = {code: float(a["g_per_mol"]) for a in data["molar_masses"].values() for code in a["loinc"]}
    return FhirTerms(systems, panels, aliases, scales, molar)


@cache
def fhir_terms() -> FhirTerms:
    """The shipped table, read once."""
    text = resources.files("dari.models").joinpath("data/fhir_terms.json").read_text(encoding="utf-8")
    return _index(json.loads(text))


def system_name(url: str | None) -> str | None:
    """dari's name for a code system URL or OID ("loinc", "snomed", "kcd", "icd10", "ucum"); None if not read."""
    return fhir_terms().systems.get(url) if url else None


def panels_carrying(codes: tuple[str, ...]) -> tuple[str, ...]:
    """The LOINC panels whose components carry any of `codes`, in table order."""
    wanted = set(codes)
    return tuple(panel for panel, members in fhir_terms().panels.items() if wanted & set(members))


def canonical_unit(unit: str) -> str:
    """The UCUM code a spelling stands for (itself when the table knows no other spelling)."""
    return fhir_terms().aliases.get(unit.strip(), unit.strip())


def unit_factor(code: LabCode, unit: str) -> float | None:
    """The factor that brings a value in `unit` to the code's unit; None when neither spec nor table allows it."""
    declared = code.factor_for(unit)
    if declared is not None:
        return declared
    terms, given, target = fhir_terms(), canonical_unit(unit), canonical_unit(code.unit)
    declared = code.factor_for(given) or next((c.factor for c in code.convert if canonical_unit(c.unit) == given), None)
    if given == target:
        return 1.0
    if declared is not None:
        return declared
    if given not in terms.scales or target not in terms.scales:
        return None
    (dim_from, f_from), (dim_to, f_to) = terms.scales[given], terms.scales[target]
    if dim_from == dim_to:
        return f_from / f_to
    masses = {terms.molar_masses[c] for c in code.codes if c in terms.molar_masses}
    if len(masses) != 1 or {dim_from, dim_to} != {MASS, MOLAR}:
        return None  # mass ↔ molar only for one known analyte
    (molar_mass,) = masses
    # g/L = mol/L × g/mol: to base, across by the molar mass, from base
    across = molar_mass if dim_from == MOLAR else 1.0 / molar_mass
    return f_from * across / f_to
