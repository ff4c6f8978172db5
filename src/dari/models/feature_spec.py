"""A model's feature specification: cohort, outcome and inputs, named by LOINC, SNOMED CT, KCD and UCUM codes.

The spec never holds CDM concept ids: the CDM path (`dari.models.cdm_features`) looks the codes up in each site's
`concept` table, and the FHIR path (the CDS Hooks service) matches them against Observation.code, Observation's
UCUM unit and Condition.code. Both then call `dari.models.inputs.assemble_inputs` with the same raw values.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from dari.errors import InputError
from dari.models.codes import ConceptItem, FeatureName, Finite, FrozenModel, KcdCode, LabCode, SnomedCode

SPEC_FORMAT: Literal[1] = 1
# A spec input that declares no lookback takes the latest value of the last year (CDM: to the index date; FHIR:
# to the evaluation date). 0 means the index or evaluation day itself.
DEFAULT_LOOKBACK_DAYS = 365


class MeasurementSource(LabCode):
    """The latest value in [index − lookback_days, index]."""

    kind: Literal["measurement"]
    lookback_days: int = Field(DEFAULT_LOOKBACK_DAYS, ge=0, le=3650)


class ConditionSource(FrozenModel):
    """Present when recorded any time up to the index date: a concept set resolved through the site's vocabulary,
    SNOMED CT codes with descendants (the older, single-list form), or KCD prefixes; any of them counts."""

    kind: Literal["condition"]
    concepts: tuple[ConceptItem, ...] = ()
    snomed: tuple[SnomedCode, ...] = ()
    kcd: tuple[KcdCode, ...] = ()

    @model_validator(mode="after")
    def _some_code(self) -> ConditionSource:
        included = [c for c in self.concepts if not c.exclude]
        if not self.snomed and not self.kcd and not included:
            raise ValueError("a condition needs at least one included concept, SNOMED or KCD code")
        keys = [c.key for c in self.concepts]
        if len(set(keys)) != len(keys):
            raise ValueError("concepts must not list a code twice")
        return self

    def concept_items(self) -> tuple[ConceptItem, ...]:
        """The concept set, with the older `snomed` list read as SNOMED items with descendants."""
        listed = {c.key for c in self.concepts}
        legacy = (ConceptItem(vocabulary_id="SNOMED", concept_code=c) for c in self.snomed)
        return (*self.concepts, *(c for c in legacy if c.key not in listed))


class DemographicSource(FrozenModel):
    """Age in years at the index date, or male sex (1) versus female (0)."""

    kind: Literal["demographic"]
    field: Literal["age_years", "male"]


Source = Annotated[MeasurementSource | ConditionSource | DemographicSource, Field(discriminator="kind")]


class RawTransform(FrozenModel):
    """The value as it is, in the spec's unit."""

    kind: Literal["raw"]


class CentreScaleTransform(FrozenModel):
    """(value − centre) / scale."""

    kind: Literal["centre_scale"]
    centre: Finite
    scale: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class IndicatorTransform(FrozenModel):
    """1.0 when present (or male), 0.0 otherwise."""

    kind: Literal["indicator"]


Transform = Annotated[RawTransform | CentreScaleTransform | IndicatorTransform, Field(discriminator="kind")]


class RequiredPolicy(FrozenModel):
    """Without this value the patient is not scored."""

    kind: Literal["required"]


class ImputePolicy(FrozenModel):
    """Without this value the declared value is used (and the use is counted)."""

    kind: Literal["impute"]
    value: Finite


MissingPolicy = Annotated[RequiredPolicy | ImputePolicy, Field(discriminator="kind")]


class ValueRange(FrozenModel):
    """Physiologically possible values, inclusive; a value outside is refused, never clipped."""

    low: Finite
    high: Finite

    @model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got [{self.low}, {self.high}]")
        return self


class Feature(FrozenModel):
    """One model input: where it comes from, how it is transformed, what happens when it is missing."""

    name: FeatureName
    label_ko: str = Field(min_length=1)
    label_en: str = Field(min_length=1)
    source: Source
    transform: Transform
    missing: MissingPolicy
    valid_range: ValueRange | None = None

    @property
    def is_indicator(self) -> bool:
        """Whether the raw value is yes/no (a condition or male sex) rather than a number."""
        return isinstance(self.source, ConditionSource) or (
            isinstance(self.source, DemographicSource) and self.source.field == "male"
        )

    @property
    def unit(self) -> str | None:
        """The UCUM unit of the raw value (years for age), None for yes/no inputs."""
        if isinstance(self.source, MeasurementSource):
            return self.source.unit
        return "a" if not self.is_indicator else None

    @model_validator(mode="after")
    def _consistent(self) -> Feature:
        if self.is_indicator:
            if not isinstance(self.transform, IndicatorTransform):
                raise ValueError(f"transform of a yes/no input must be 'indicator', got {self.transform.kind!r}")
            if self.valid_range is not None:
                raise ValueError("a yes/no input takes no valid_range")
            if isinstance(self.missing, ImputePolicy) and self.missing.value not in (0.0, 1.0):
                raise ValueError(f"missing.value of a yes/no input must be 0 or 1, got {self.missing.value}")
            return self
        if isinstance(self.transform, IndicatorTransform):
            raise ValueError("transform 'indicator' is only for conditions and male sex")
        if self.valid_range is None:
            raise ValueError("a numeric input needs valid_range")
        if isinstance(self.missing, ImputePolicy) and not (
            self.valid_range.low <= self.missing.value <= self.valid_range.high
        ):
            raise ValueError(f"missing.value {self.missing.value} lies outside valid_range")
        return self


class CohortDefinition(FrozenModel):
    """Who is scored: adults whose first `index` measurement lies in [first_value_low, first_value_high)."""

    index: LabCode
    first_value_low: Finite
    first_value_high: Finite
    min_age_years: Annotated[float, Field(ge=0, le=120)] = 18.0
    index_start: date | None = None  # study period for training and validation; the CDS path ignores it
    index_end: date | None = None
    description_ko: str = Field(min_length=1)
    description_en: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> CohortDefinition:
        if not self.first_value_low < self.first_value_high:
            raise ValueError("first_value_low must be below first_value_high")
        if self.index_start and self.index_end and self.index_start > self.index_end:
            raise ValueError("index_start must not be after index_end")
        return self


class OutcomeDefinition(FrozenModel):
    """The outcome: any `measurement` below `below` in (index + window_start_days, index + window_end_days]."""

    measurement: LabCode
    below: Finite
    window_start_days: int = Field(0, ge=0)
    window_end_days: int = Field(365, gt=0, le=3650)
    # True: drop non-events whose observation ends inside the window (complete-case); False: count them as
    # non-events, as the outcome's plain definition (and the synthetic ground truth) does.
    exclude_censored: bool = False
    label_ko: str = Field(min_length=1)
    label_en: str = Field(min_length=1)

    @model_validator(mode="after")
    def _window(self) -> OutcomeDefinition:
        if self.window_start_days >= self.window_end_days:
            raise ValueError("window_start_days must be below window_end_days")
        return self


class LinearTerm(FrozenModel):
    """One feature's share of a linear model's logit: coefficient × (x − mean) / scale."""

    feature: FeatureName
    coefficient: Finite
    mean: Finite
    scale: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class LinearModel(FrozenModel):
    """logit P = intercept + Σ coefficient·(x − mean)/scale over the transformed inputs, in feature order."""

    intercept: Finite
    terms: tuple[LinearTerm, ...]


class FeatureSpec(FrozenModel):
    """A versioned feature specification; `linear_model` is set for models whose logit is exactly linear."""

    spec_format: Literal[1] = SPEC_FORMAT
    name: FeatureName
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description_ko: str = Field(min_length=1)
    description_en: str = Field(min_length=1)
    cohort: CohortDefinition
    outcome: OutcomeDefinition
    features: tuple[Feature, ...] = Field(min_length=1)
    linear_model: LinearModel | None = None
    # Reference rows in model-input space (after the transforms, in feature order) that explanations of a
    # non-linear model are measured against: SHAP values say how this patient differs from them. Declared by the
    # model's owner from the training population in aggregate (cluster centres, typical profiles), never patient
    # rows. Linear models need none: their contributions are exact against the standardisation means.
    explanation_background: tuple[tuple[Finite, ...], ...] | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _names(self) -> FeatureSpec:
        names = self.feature_names
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names must be unique, repeated: {', '.join(dupes)}")
        if self.linear_model is not None:
            terms = tuple(t.feature for t in self.linear_model.terms)
            if terms != names:
                raise ValueError(f"linear_model.terms must follow the features in order {names}, got {terms}")
        for i, row in enumerate(self.explanation_background or ()):
            if len(row) != len(names):
                raise ValueError(
                    f"explanation_background row {i} has {len(row)} values, the spec {len(names)} features"
                )
        return self

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The input names in model column order."""
        return tuple(f.name for f in self.features)

    @property
    def n_features(self) -> int:
        """How many columns the model takes."""
        return len(self.features)

    def feature(self, name: str) -> Feature:
        """The feature called `name`."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"no feature {name!r} in spec {self.name} (features: {', '.join(self.feature_names)})")


_TAGS = ("measurement", "condition", "demographic", "raw", "centre_scale", "indicator", "required", "impute")


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """A validation error's location, with the feature's name where the path goes through `features[i]`."""
    parts: list[str] = []
    for i, p in enumerate(loc):
        if isinstance(p, int) and i > 0 and loc[i - 1] == "features" and isinstance(data, dict):
            feats = data.get("features")
            name = feats[p].get("name") if isinstance(feats, list) and p < len(feats) else None
            parts[-1] = f"features[{p}]" + (f" ({name})" if isinstance(name, str) else "")
            continue
        if i > 0 and loc[i - 1] in ("source", "transform", "missing") and p in _TAGS:
            continue  # the discriminator's tag adds nothing a reader needs
        parts.append(str(p))
    return ".".join(parts)


def parse_spec(data: str | bytes | dict[str, Any], *, source: str = "<spec>") -> FeatureSpec:
    """Validate a spec from JSON text or a parsed dict; errors name the file and the field."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc}", file=source) from None
    if not isinstance(data, dict):
        raise InputError("a feature spec must be a JSON object", file=source)
    try:
        return FeatureSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        value = first.get("input")
        shown = f" (value {value!r})" if not isinstance(value, dict | list) else ""
        raise InputError(f"{first['msg']}{shown}", file=source, column=_where(first["loc"], data)) from None


def load_spec(path: Path) -> FeatureSpec:
    """Read and validate a feature spec JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read feature spec: {exc.strerror}", file=str(path)) from None
    return parse_spec(text, source=str(path))


def dump_spec(spec: FeatureSpec) -> str:
    """The spec as UTF-8 JSON text (Korean kept readable), ending in a newline."""
    return json.dumps(spec.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
