"""Cohort definitions: the shipped examples load; unsupported or inconsistent JSON is refused naming its path."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from cohort_tiny_cdm import DEFINITION, definition

from dari.cohort import CohortDefinitionError, load_definition, load_table_one_request, parse_definition
from dari.errors import InputError

EXAMPLES = resources.files("dari.cohort") / "examples"


def _error(raw: Any) -> CohortDefinitionError:
    with pytest.raises(CohortDefinitionError) as info:
        parse_definition(raw)
    return info.value


@pytest.mark.parametrize("name", ["t2dm_on_metformin.json", "ckd_g3.json"])
def test_cohort_examples_load(name: str) -> None:
    # Execute
    d = load_definition(Path(str(EXAMPLES / name)))
    # Assert
    assert d.inclusion_rules and d.concept_sets
    assert len(d.digest()) == 64


def test_cohort_table_one_example_loads() -> None:
    request = load_table_one_request(Path(str(EXAMPLES / "table_one_cardiometabolic.json")))
    assert [lab.name for lab in request.labs] == ["eGFR", "HbA1c", "systolic BP"]


def test_cohort_definition_digest_changes_with_content() -> None:
    a = parse_definition(DEFINITION)
    b = parse_definition(definition(name="other"))
    assert a.digest() == parse_definition(definition()).digest()
    assert a.digest() != b.digest()


@pytest.mark.parametrize(
    ("where", "path"),
    [
        (lambda d: d["index"].update(restrict_visit=True), "index.restrict_visit"),
        (
            lambda d: d["concept_sets"][1]["items"][0].update(include_mapped=True),
            "concept_sets[1].items[0].include_mapped",
        ),
        (lambda d: d["exit"].update(era_pad=1), "exit.era_pad"),  # date_field is supported since circe2
        (
            lambda d: d["inclusion_rules"][0]["window"].update(use_event_end=True),
            "inclusion_rules[0].window.use_event_end",
        ),
        (lambda d: d.update(collapse_settings={"era_pad": 0}), "collapse_settings"),
    ],
)
def test_cohort_unsupported_field_refused_with_path(where: Any, path: str) -> None:
    # Prepare
    raw = definition()
    where(raw)
    # Execute
    err = _error(raw)
    # Assert
    assert err.path == path
    assert str(err).startswith(f"{path}: unsupported field")


def test_cohort_unknown_concept_set_reference_names_rule() -> None:
    raw = definition()
    raw["inclusion_rules"][1]["concept_set"] = "t3dm"
    err = _error(raw)
    assert err.path == "inclusion_rules[1].concept_set"
    assert "t3dm" in str(err)


def test_cohort_value_on_condition_refused() -> None:
    raw = definition()
    raw["inclusion_rules"][0]["value"] = {"gte": 1}
    err = _error(raw)
    assert err.path == "inclusion_rules[0]"
    assert "measurement" in str(err)


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"start_days": 10, "end_days": 0}, "inclusion_rules[0].window", "after end_days"),
        ({"start_days": "soon", "end_days": 0}, "inclusion_rules[0].window.start_days", "'soon'"),
    ],
)
def test_cohort_bad_window_refused(change: dict[str, Any], path: str, words: str) -> None:
    raw = definition()
    raw["inclusion_rules"][0]["window"] = change
    err = _error(raw)
    assert err.path == path
    assert words in str(err)


def test_cohort_bad_occurrence_and_domain_refused() -> None:
    raw = definition()
    raw["inclusion_rules"][0]["occurrence"] = {"type": "at_least", "count": 0}
    assert _error(raw).path == "inclusion_rules[0].occurrence"
    raw = definition()
    raw["index"]["domain"] = "device_exposure"
    assert _error(raw).path == "index.domain"


def test_cohort_value_range_checks() -> None:
    raw = definition()
    raw["index"] = {"domain": "measurement", "concept_set": "egfr", "value": {"gt": 30, "gte": 30}}
    assert "at most one lower bound" in str(_error(raw))
    raw["index"]["value"] = {"gte": 60, "lt": 30}
    assert _error(raw).path == "index.value"


def test_cohort_exit_fields_checked_inside_union() -> None:
    raw = definition(exit={"type": "fixed_offset", "days": -1})
    assert _error(raw).path == "exit.days"
    raw = definition(exit={"type": "death"})
    assert _error(raw).path == "exit"


def test_cohort_duplicate_concept_set_and_all_excluded() -> None:
    raw = definition()
    raw["concept_sets"][1]["id"] = "t2dm"
    assert _error(raw).path == "concept_sets[1].id"
    raw = definition()
    raw["concept_sets"][0]["items"][0]["exclude"] = True
    assert _error(raw).path == "concept_sets[0]"


def test_cohort_load_names_file_and_bad_json(tmp_path: Path) -> None:
    # Prepare
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": ', encoding="utf-8")
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(definition(owner="me")), encoding="utf-8")
    # Execute / Assert
    with pytest.raises(InputError, match="not valid JSON"):
        load_definition(bad)
    with pytest.raises(CohortDefinitionError, match=r"extra\.json.*owner: unsupported field"):
        load_definition(extra)
    with pytest.raises(InputError, match="cannot read"):
        load_definition(tmp_path / "missing.json")
    assert load_definition(json.dumps(DEFINITION)).name == DEFINITION["name"]
