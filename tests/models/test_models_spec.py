"""Feature-spec validation: bad specs are refused with the file and the field named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dari.errors import InputError
from dari.models.codes import loinc_check_digit_ok
from dari.models.feature_spec import ConditionSource, dump_spec, load_spec, parse_spec
from dari.models.reference_spec import reference_spec


def _spec_dict() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(dump_spec(reference_spec()))
    return data


def _feature(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in data["features"] if f["name"] == name)


def test_spec_round_trip_is_identical(tmp_path: Path) -> None:
    # Prepare
    spec = reference_spec()
    path = tmp_path / "features.json"
    path.write_text(dump_spec(spec), encoding="utf-8")
    # Execute
    again = load_spec(path)
    # Assert
    assert again == spec
    assert dump_spec(again) == dump_spec(spec)


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (
            lambda d: _feature(d, "hba1c")["source"].update(loinc="4548-5"),
            "features[3] (hba1c).source.loinc",
            "check digit",
        ),
        (lambda d: _feature(d, "sbp")["missing"].update(value=400), "features[4] (sbp)", "outside valid_range"),
        (lambda d: _feature(d, "egfr").pop("valid_range"), "features[2] (egfr)", "needs valid_range"),
        (
            lambda d: _feature(d, "diabetes").update(valid_range={"low": 0, "high": 1}),
            "features[5] (diabetes)",
            "no valid_range",
        ),
        (
            lambda d: _feature(d, "diabetes")["source"].update(concepts=[], snomed=[], kcd=[]),
            "features[5] (diabetes).source",
            "at least one",
        ),
        (
            lambda d: _feature(d, "heart_failure")["source"].update(kcd=["150"]),
            "features[6] (heart_failure).source.kcd.0",
            "KCD code",
        ),
        (lambda d: _feature(d, "male")["transform"].update(kind="raw"), "features[1] (male)", "indicator"),
        (lambda d: _feature(d, "age_years").update(label_en=""), "features[0] (age_years).label_en", "at least 1"),
        (
            lambda d: _feature(d, "egfr")["source"].update(convert=[{"unit": "mL/min/{1.73_m2}", "factor": 1}]),
            "features[2] (egfr).source",
            "convert",
        ),
        (lambda d: _feature(d, "sbp").update(colour="red"), "features[4] (sbp).colour", "Extra inputs"),
        (lambda d: d["features"].append(dict(d["features"][0])), "", "unique"),
        (lambda d: d["cohort"].update(first_value_low=70), "cohort", "first_value_low"),
        (lambda d: d["outcome"].update(window_end_days=0), "outcome.window_end_days", "greater than 0"),
        (lambda d: d.update(version="1.0"), "version", "pattern"),
    ],
)
def test_spec_invalid_names_the_field(edit: Any, field: str, words: str) -> None:
    # Prepare
    data = _spec_dict()
    edit(data)
    # Execute
    with pytest.raises(InputError) as info:
        parse_spec(json.dumps(data), source="spec.json")
    # Assert
    message = str(info.value)
    assert message.startswith("file spec.json")
    assert field in message
    assert words in message


def test_spec_linear_terms_must_follow_features() -> None:
    # Prepare
    data = _spec_dict()
    names = [f["name"] for f in data["features"]]
    data["linear_model"] = {
        "intercept": 0.0,
        "terms": [{"feature": n, "coefficient": 1.0, "mean": 0.0, "scale": 1.0} for n in reversed(names)],
    }
    # Execute
    with pytest.raises(InputError) as info:
        parse_spec(json.dumps(data))
    # Assert
    assert "linear_model.terms must follow the features" in str(info.value)


def test_spec_not_json_is_refused(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    # Execute / Assert
    with pytest.raises(InputError, match="not valid JSON"):
        load_spec(path)


@pytest.mark.parametrize(
    ("code", "ok"), [("98979-8", True), ("2160-0", True), ("14682-9", True), ("2160-1", False), ("x-1", False)]
)
def test_loinc_check_digit(code: str, ok: bool) -> None:
    # Execute / Assert
    assert loinc_check_digit_ok(code) is ok


def test_spec_kcd_codes_are_stored_without_dot() -> None:
    # Prepare
    data = _spec_dict()
    _feature(data, "heart_failure")["source"]["kcd"] = ["i50.9"]
    # Execute
    spec = parse_spec(json.dumps(data))
    # Assert
    source = spec.feature("heart_failure").source
    assert isinstance(source, ConditionSource)
    assert source.kcd == ("I509",)
