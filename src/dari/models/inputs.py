"""From raw values to the model's input row: units, missing values, physiological ranges, transforms.

The CDM path and the FHIR path extract raw values in their own way, then both come here, so a patient gets the
same input row whichever way their data arrived. Nothing is clipped: a value outside its range is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from dari.errors import InputError
from dari.models.codes import LabCode
from dari.models.feature_spec import CentreScaleTransform, Feature, FeatureSpec, ImputePolicy, RequiredPolicy

# A birth date known only to the year (dari's default pseudonymisation keeps the year) is taken as 1 July, the
# middle of the year; known to the month, as the 15th. The SQL in cdm_features uses the same constants.
UNKNOWN_BIRTH_MONTH = 7
UNKNOWN_BIRTH_DAY = 1
UNKNOWN_BIRTH_DAY_OF_KNOWN_MONTH = 15
DAYS_PER_YEAR = 365.25

RawValue = float | int | bool | None


class FeatureValueError(InputError):
    """A feature's value cannot be used: missing though required, out of range, of the wrong type or unit."""

    def __init__(self, feature: Feature | str, reason: str, message: str) -> None:
        name = feature if isinstance(feature, str) else feature.name
        label = "" if isinstance(feature, str) else f" ({feature.label_en})"
        self.feature = name
        self.reason = reason  # "missing" | "out_of_range" | "type" | "unit" | "unknown" | "ambiguous" | "date"
        super().__init__(f"feature {name!r}{label}: {message}")
        self.column = name


def age_years(birth_year: int, birth_month: int | None, birth_day: int | None, at: date) -> float:
    """Age in years on `at`; an unknown month or day is taken as the middle of the year or month."""
    month = birth_month or UNKNOWN_BIRTH_MONTH
    day = birth_day or (UNKNOWN_BIRTH_DAY if birth_month is None else UNKNOWN_BIRTH_DAY_OF_KNOWN_MONTH)
    return (at - date(birth_year, month, day)).days / DAYS_PER_YEAR


def convert_to_spec_unit(
    code: LabCode, value: float, unit: str, *, feature: Feature | str, loinc: str | None = None
) -> float:
    """`value` in the code's UCUM unit; converted only by a factor the spec declares, otherwise refused."""
    if loinc is not None and loinc not in code.codes:
        raise FeatureValueError(feature, "unit", f"LOINC {loinc} is not one of {', '.join(code.codes)}")
    factor = code.factor_for(unit)
    if factor is None:
        accepted = ", ".join([code.unit, *(c.unit for c in code.convert)])
        raise FeatureValueError(feature, "unit", f"unit {unit!r} is not accepted (accepted UCUM units: {accepted})")
    return value * factor


def _apply_transform(feature: Feature, values: np.ndarray) -> np.ndarray:
    t = feature.transform
    if isinstance(t, CentreScaleTransform):
        return (values - t.centre) / t.scale
    return values  # raw, and indicator (already 0/1)


def _scalar(feature: Feature, value: RawValue) -> float | None:
    """A raw value as a float in the feature's terms (None when missing); refuses wrong types."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if feature.is_indicator:
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if isinstance(value, int | float) and value in (0, 1):
            return float(value)
        raise FeatureValueError(feature, "type", f"must be true/false (or 0/1), got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeatureValueError(feature, "type", f"must be a number, got {value!r}")
    if math.isinf(value):
        raise FeatureValueError(feature, "out_of_range", f"must be finite, got {value!r}")
    return float(value)


def assemble_inputs(spec: FeatureSpec, raw: Mapping[str, RawValue]) -> np.ndarray:
    """One patient's model input row (float64, one column per feature in spec order) from raw values.

    `raw` maps feature names to values already in the spec's units (see `convert_to_spec_unit`); None means
    missing. A missing required value, a value outside the physiological range, a wrong type or an unknown
    name raises `FeatureValueError` naming the feature.
    """
    unknown = sorted(set(raw) - set(spec.feature_names))
    if unknown:
        raise FeatureValueError(unknown[0], "unknown", f"is not a feature of {spec.name} {spec.version}")
    row = np.empty(spec.n_features, dtype=np.float64)
    for j, feature in enumerate(spec.features):
        value = _scalar(feature, raw.get(feature.name))
        if value is None:
            if isinstance(feature.missing, RequiredPolicy):
                raise FeatureValueError(feature, "missing", "required value is missing; the patient is not scored")
            value = feature.missing.value
        rng = feature.valid_range
        if rng is not None and not rng.low <= value <= rng.high:
            unit = f" {feature.unit}" if feature.unit else ""
            raise FeatureValueError(
                feature, "out_of_range", f"value {value:g}{unit} is outside the range [{rng.low:g}, {rng.high:g}]"
            )
        row[j] = _apply_transform(feature, np.array([value]))[0]
    return row


@dataclass(frozen=True)
class AssembledBatch:
    """Input rows of many patients: `x[i]` is usable where `scorable[i]`; else `reasons[i]` says why not."""

    x: np.ndarray  # (n, n_features) float64; NaN rows where not scorable
    scorable: np.ndarray  # bool (n,)
    reasons: np.ndarray  # str (n,): "" or "<feature>: <reason>", reasons as in FeatureValueError
    imputed: dict[str, int]  # feature -> how many rows got the declared value

    def reason_counts(self) -> dict[str, int]:
        """How many patients were left unscored, by first reason."""
        keys, counts = np.unique(self.reasons[~self.scorable], return_counts=True)
        return {str(k): int(c) for k, c in zip(keys, counts, strict=True)}


def assemble_batch(
    spec: FeatureSpec, columns: Mapping[str, np.ndarray], *, ambiguous: Mapping[str, np.ndarray] | None = None
) -> AssembledBatch:
    """Vectorised `assemble_inputs`: raw columns (float, NaN = missing; bool allowed for yes/no) to input rows.

    A row that `assemble_inputs` would refuse is marked not scorable with its first reason instead of raising;
    `ambiguous` (feature → bool per row) marks values the source could not settle ("<feature>: ambiguous"),
    which are never imputed.
    """
    missing_cols = [n for n in spec.feature_names if n not in columns]
    if missing_cols:
        raise InputError(f"no column for feature(s) {', '.join(missing_cols)}")
    n = len(np.asarray(columns[spec.feature_names[0]]))
    x = np.empty((n, spec.n_features), dtype=np.float64)
    reasons = np.full(n, "", dtype=object)
    imputed: dict[str, int] = {}

    def refuse(mask: np.ndarray, why: str) -> None:
        reasons[mask & (reasons == "")] = why

    for j, feature in enumerate(spec.features):
        col = np.asarray(columns[feature.name], dtype=np.float64)
        if col.shape != (n,):
            raise InputError(f"column for feature {feature.name!r} has shape {col.shape}, expected ({n},)")
        absent = np.isnan(col)
        if ambiguous is not None and feature.name in ambiguous:
            refuse(np.asarray(ambiguous[feature.name], dtype=bool), f"{feature.name}: ambiguous")
        if isinstance(feature.missing, ImputePolicy):
            imputed[feature.name] = int(absent.sum())
            col = np.where(absent, feature.missing.value, col)
        else:
            refuse(absent, f"{feature.name}: missing")
        present = ~np.isnan(col)
        if feature.is_indicator:
            refuse(present & (col != 0.0) & (col != 1.0), f"{feature.name}: type")
        elif feature.valid_range is not None:
            low, high = feature.valid_range.low, feature.valid_range.high
            refuse(present & ((col < low) | (col > high)), f"{feature.name}: out_of_range")
        x[:, j] = _apply_transform(feature, col)
    scorable = reasons == ""
    x[~scorable] = np.nan
    return AssembledBatch(x=x, scorable=scorable, reasons=reasons.astype(str), imputed=imputed)


def linear_contributions(spec: FeatureSpec, x: np.ndarray) -> dict[str, float]:
    """Each feature's exact share of the logit for one input row: coefficient × (x − mean) / scale.

    With `spec.linear_model.intercept` they sum to the model's logit, so an explanation needs no approximation.
    """
    lm = spec.linear_model
    if lm is None:
        raise InputError(f"spec {spec.name} {spec.version} has no linear_model; contributions are not exact")
    row = np.asarray(x, dtype=np.float64).reshape(-1)
    if row.shape != (spec.n_features,):
        raise InputError(f"input row has {row.size} values, spec {spec.name} has {spec.n_features} features")
    return {t.feature: t.coefficient * (float(v) - t.mean) / t.scale for t, v in zip(lm.terms, row, strict=True)}
