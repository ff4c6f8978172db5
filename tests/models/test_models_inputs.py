"""assemble_inputs / assemble_batch: missing, out-of-range, wrong type and wrong unit are refused, never guessed."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from dari.errors import InputError
from dari.models.feature_spec import CentreScaleTransform
from dari.models.inputs import (
    FeatureValueError,
    age_years,
    assemble_batch,
    assemble_inputs,
    convert_to_spec_unit,
)
from dari.models.reference_spec import CREATININE, reference_spec

SPEC = reference_spec()
FULL = {
    "age_years": 71.0,
    "male": True,
    "egfr": 44.0,
    "hba1c": 7.9,
    "sbp": 142.0,
    "diabetes": True,
    "heart_failure": False,
}


def test_assemble_inputs_full_row_in_spec_order() -> None:
    # Execute
    row = assemble_inputs(SPEC, FULL)
    # Assert
    assert row.tolist() == [71.0, 1.0, 44.0, 7.9, 142.0, 1.0, 0.0]


def test_assemble_inputs_imputes_declared_values() -> None:
    # Prepare
    raw = {**FULL, "hba1c": None, "sbp": float("nan")}
    del raw["heart_failure"]
    # Execute
    row = assemble_inputs(SPEC, raw)
    # Assert
    assert row[3] == 5.6 and row[4] == 130.0 and row[6] == 0.0


@pytest.mark.parametrize("name", ["age_years", "male", "egfr"])
def test_assemble_inputs_missing_required_names_feature(name: str) -> None:
    # Prepare
    raw = {**FULL, name: None}
    # Execute
    with pytest.raises(FeatureValueError) as info:
        assemble_inputs(SPEC, raw)
    # Assert
    assert info.value.feature == name and info.value.reason == "missing"
    assert f"feature {name!r}" in str(info.value) and "required" in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"), [("egfr", 0.5), ("egfr", 250.0), ("sbp", 20.0), ("age_years", 17.0), ("hba1c", float("inf"))]
)
def test_assemble_inputs_out_of_range_is_refused_not_clipped(name: str, value: float) -> None:
    # Prepare
    raw = {**FULL, name: value}
    # Execute
    with pytest.raises(FeatureValueError) as info:
        assemble_inputs(SPEC, raw)
    # Assert
    assert info.value.feature == name and info.value.reason == "out_of_range"
    assert name in str(info.value)


@pytest.mark.parametrize(("name", "value"), [("egfr", True), ("diabetes", 0.5), ("male", "M")])
def test_assemble_inputs_wrong_type_names_feature(name: str, value: object) -> None:
    # Prepare
    raw = {**FULL, name: value}
    # Execute
    with pytest.raises(FeatureValueError) as info:
        assemble_inputs(SPEC, raw)  # type: ignore[arg-type]
    # Assert
    assert info.value.feature == name and info.value.reason == "type"


def test_assemble_inputs_unknown_name_is_refused() -> None:
    # Execute
    with pytest.raises(FeatureValueError, match="'egfr_typo'"):
        assemble_inputs(SPEC, {**FULL, "egfr_typo": 40.0})


def test_assemble_inputs_centre_scale_transform() -> None:
    # Prepare
    egfr = SPEC.feature("egfr").model_copy(
        update={"transform": CentreScaleTransform(kind="centre_scale", centre=45, scale=5)}
    )
    spec = SPEC.model_copy(update={"features": tuple(egfr if f.name == "egfr" else f for f in SPEC.features)})
    # Execute
    row = assemble_inputs(spec, FULL)
    # Assert
    assert row[2] == pytest.approx(-0.2)


def test_convert_creatinine_umol_to_mg_by_declared_factor() -> None:
    # Execute
    mg = convert_to_spec_unit(CREATININE, 176.84, "umol/L", feature="creatinine", loinc="14682-9")
    same = convert_to_spec_unit(CREATININE, 2.0, "mg/dL", feature="creatinine", loinc="2160-0")
    # Assert
    assert mg == pytest.approx(2.0)
    assert same == 2.0


@pytest.mark.parametrize(("unit", "loinc"), [("mmol/L", "2160-0"), ("mg/dl", "2160-0"), ("mg/dL", "2951-2")])
def test_convert_undeclared_unit_or_code_is_refused(unit: str, loinc: str) -> None:
    # Execute
    with pytest.raises(FeatureValueError) as info:
        convert_to_spec_unit(CREATININE, 1.0, unit, feature="creatinine", loinc=loinc)
    # Assert
    assert info.value.reason == "unit" and "creatinine" in str(info.value)


def test_assemble_batch_agrees_with_assemble_inputs_row_by_row() -> None:
    # Prepare: random rows, some missing, some out of range
    rng = np.random.default_rng(5)
    n = 300
    cols = {
        "age_years": rng.uniform(10, 100, n),
        "male": rng.integers(0, 2, n).astype(float),
        "egfr": np.where(rng.random(n) < 0.05, np.nan, rng.uniform(1, 80, n)),
        "hba1c": np.where(rng.random(n) < 0.4, np.nan, rng.uniform(4, 12, n)),
        "sbp": np.where(rng.random(n) < 0.4, np.nan, rng.uniform(40, 200, n)),
        "diabetes": rng.integers(0, 2, n).astype(float),
        "heart_failure": rng.integers(0, 2, n).astype(float),
    }
    # Execute
    batch = assemble_batch(SPEC, cols)
    # Assert
    assert 0 < batch.scorable.sum() < n
    for i in range(n):
        raw = {k: (None if np.isnan(v[i]) else float(v[i])) for k, v in cols.items()}
        try:
            row = assemble_inputs(SPEC, raw)
        except FeatureValueError as exc:
            assert not batch.scorable[i]
            assert batch.reasons[i] == f"{exc.feature}: {exc.reason}"
        else:
            assert batch.scorable[i]
            np.testing.assert_array_equal(batch.x[i], row)
    assert batch.imputed["hba1c"] == int(np.isnan(cols["hba1c"]).sum())


def test_assemble_batch_missing_column_is_refused() -> None:
    # Execute / Assert
    with pytest.raises(InputError, match="sbp"):
        assemble_batch(SPEC, {k: np.zeros(2) for k in FULL if k != "sbp"})


@pytest.mark.parametrize(
    ("birth", "at", "expected"),
    [
        ((1960, 3, 10), date(2020, 3, 10), 60.0),
        ((1960, None, None), date(2020, 7, 1), 60.0),
        ((1960, 5, None), date(2020, 5, 15), 60.0),
    ],
)
def test_age_years_imputes_unknown_month_and_day(
    birth: tuple[int, int | None, int | None], at: date, expected: float
) -> None:
    # Execute
    age = age_years(*birth, at)
    # Assert
    assert age == pytest.approx(expected, abs=0.01)


def test_assemble_batch_ambiguous_values_are_refused_never_imputed() -> None:
    # Prepare: two rows; row 1's HbA1c (an imputed feature) is ambiguous at its source, so NaN there
    columns = {name: np.array([float(v), float(v)]) for name, v in FULL.items()}
    columns["hba1c"] = np.array([7.9, np.nan])
    # Execute
    batch = assemble_batch(SPEC, columns, ambiguous={"hba1c": np.array([False, True])})
    # Assert: row 0 scores; row 1 is refused with the reason, not given the declared value
    assert batch.scorable.tolist() == [True, False]
    assert batch.reasons[1] == "hba1c: ambiguous" and batch.reason_counts() == {"hba1c: ambiguous": 1}
