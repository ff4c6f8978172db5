"""Terminology codes as validated types: LOINC (with its check digit), UCUM units, SNOMED CT, KCD prefixes.

`LabCode` names a measurement the way both a CDM (concept table) and FHIR (Observation.code, valueQuantity.code)
can match it: LOINC code(s) and the UCUM unit its values must be in, with conversions declared, never guessed.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from dari.vocab import normalise_kcd_code

_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_KCD = re.compile(r"^[A-Z]\d{2}[0-9A-Z]{0,3}$")


def loinc_check_digit_ok(code: str) -> bool:
    """Whether a LOINC code's check digit is right (LOINC's mod-10 rule, Luhn's algorithm)."""
    m = _LOINC.match(code)
    if not m:
        return False
    total = 0
    for i, ch in enumerate(reversed(m.group(1))):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10 == int(m.group(2))


def _loinc(code: str) -> str:
    if not _LOINC.match(code):
        raise ValueError(f"must be a LOINC code like 2160-0, got {code!r}")
    if not loinc_check_digit_ok(code):
        raise ValueError(f"LOINC code {code!r} has a wrong check digit")
    return code


def _kcd(code: str) -> str:
    bare = normalise_kcd_code(code)
    if not _KCD.match(bare):
        raise ValueError(f"must be a KCD code like E11 or E11.9, got {code!r}")
    return bare


LoincCode = Annotated[str, AfterValidator(_loinc)]
UcumCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S+$")]
SnomedCode = Annotated[str, Field(pattern=r"^[1-9]\d{5,17}$")]
KcdCode = Annotated[str, AfterValidator(_kcd)]  # stored without the dot; a prefix: E11 covers E11.0–E11.9
FeatureName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class FrozenModel(BaseModel):
    """A pydantic record that refuses unknown keys and cannot change once made."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitConversion(FrozenModel):
    """A unit the spec accepts by conversion: value in the spec's unit = value × factor."""

    unit: UcumCode
    factor: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class LabCode(FrozenModel):
    """A measurement named by LOINC code(s) and the UCUM unit its values must be in (or convert to)."""

    loinc: LoincCode
    also_loinc: tuple[LoincCode, ...] = ()  # equivalent codes, e.g. creatinine in µmol/L (14682-9)
    unit: UcumCode
    convert: tuple[UnitConversion, ...] = ()

    @model_validator(mode="after")
    def _distinct(self) -> LabCode:
        if len(set(self.codes)) != len(self.codes):
            raise ValueError("loinc and also_loinc must not repeat a code")
        units = [c.unit for c in self.convert]
        if self.unit in units or len(set(units)) != len(units):
            raise ValueError("convert must list each unit once and not the spec's own unit")
        return self

    @property
    def codes(self) -> tuple[str, ...]:
        """Every LOINC code this measurement accepts, the primary one first."""
        return (self.loinc, *self.also_loinc)

    def factor_for(self, unit: str) -> float | None:
        """The factor that brings a value in `unit` to the spec's unit; None when the unit is not accepted."""
        if unit == self.unit:
            return 1.0
        return next((c.factor for c in self.convert if c.unit == unit), None)


class ConceptItem(FrozenModel):
    """One item of a spec's concept set: a code in a vocabulary (SNOMED, ICD10CM, KCD8, a local source code …), or
    an Athena standard `concept_id` (the same in every Athena-built CDM; found by id in the site's table).

    Resolved through the site's own vocabulary (`dari.models.concept_sets`): a non-standard code stands for the
    standard concepts it 'Maps to'; `include_descendants` adds what `concept_ancestor` puts below; `exclude`
    removes the item (and its descendants when asked) from the set. Prefer codes: ids of local concepts
    (dari's synthetic sites, a site's own source concepts above 2,000,000,000) differ between sites."""

    vocabulary_id: str | None = Field(None, min_length=1, max_length=20)
    concept_code: str | None = Field(None, min_length=1, max_length=50)
    concept_id: int | None = Field(None, gt=0, lt=2_000_000_000)
    include_descendants: bool = True
    exclude: bool = False

    @model_validator(mode="after")
    def _named(self) -> ConceptItem:
        coded = self.vocabulary_id is not None and self.concept_code is not None
        if (self.vocabulary_id is None) != (self.concept_code is None):
            raise ValueError("vocabulary_id and concept_code go together")
        if coded == (self.concept_id is not None):
            raise ValueError("a concept set item needs vocabulary_id + concept_code, or concept_id (not both)")
        return self

    @property
    def key(self) -> tuple[str, str]:
        """What makes two items the same: (vocabulary, code), or ("concept_id", id)."""
        if self.concept_id is not None:
            return ("concept_id", str(self.concept_id))
        return (str(self.vocabulary_id), str(self.concept_code))

    def label(self) -> str:
        """`VOCABULARY code` or `concept_id N`, for notes and messages."""
        return " ".join(self.key)
