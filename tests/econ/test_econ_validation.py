"""The one validation results format: written by `dari validate`'s writer, read by `dari econ` (pooled, per site)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from dari.econ import apply_validation, load_model, load_validation
from dari.econ.validation import beta_from_counts, site_inputs
from dari.errors import InputError
from dari.reports.results_file import FORMAT_ID, parse_summary, results_schema


def _ckd() -> Any:
    return load_model(Path(str(resources.files("dari.econ") / "examples" / "ckd_ai_screening.toml")))


def test_results_format_written_by_validate_is_versioned_and_has_accuracy(validation_doc: dict[str, Any]) -> None:
    summary = parse_summary(validation_doc)
    assert validation_doc["format"] == FORMAT_ID == "dari-validation-results/1"
    assert summary.pooled is not None and summary.pooled.accuracy is not None
    sens = summary.pooled.accuracy.sensitivity
    site_tp = sum(s.accuracy.sensitivity.numerator for s in summary.sites.values() if s.accuracy)
    assert sens.numerator == site_tp  # the pooled 2×2 is the sum of the sites' tables
    assert summary.pooled.prevalence == pytest.approx(summary.pooled.events / summary.pooled.n)
    schema = results_schema()
    assert schema["properties"]["format"]["const"] == FORMAT_ID and "pooled" in schema["required"]


def test_results_format_refuses_unknown_version_and_bad_field(validation_doc: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="not supported") as info:
        parse_summary({**validation_doc, "format": "dari-validation-results/9"}, source="r.json")
    assert info.value.column == "format" and info.value.file == "r.json"
    bad = json.loads(json.dumps(validation_doc, allow_nan=True))
    bad["sites"]["site-1"]["accuracy"]["sensitivity"]["numerator"] = 10**9
    with pytest.raises(InputError) as info:
        parse_summary(bad, source="r.json")
    assert info.value.column == "sites.site-1.accuracy.sensitivity"
    with pytest.raises(InputError, match="no 'format'"):
        parse_summary({"pooled": {}}, source="old.json")


def test_validation_pooled_and_site_inputs_become_beta_from_counts(validation_file: Path) -> None:
    results = load_validation(validation_file)
    spec = _ckd()
    pooled = apply_validation(spec, results, str(validation_file))
    acc = results.pooled.accuracy if results.pooled else None
    assert acc is not None
    k, n = acc.sensitivity.numerator, acc.sensitivity.denominator
    d = pooled.parameters["sens_ai"].distribution
    assert d is not None and (d.alpha, d.beta) == (k, n - k)
    assert pooled.parameters["sens_ai"].value == pytest.approx(k / n)
    assert "job-econ0001" in pooled.parameters["sens_ai"].source
    site2 = apply_validation(spec, results, str(validation_file), site="site-2")
    s2 = site_inputs(results, "site-2", "f")
    assert site2.parameters["prev_hr"].value == pytest.approx(s2["prevalence"].value)
    assert site2.parameters["prev_hr"].value != pooled.parameters["prev_hr"].value


def test_validation_refused_or_unknown_site_named(validation_file: Path) -> None:
    results = load_validation(validation_file)
    with pytest.raises(InputError, match="refused") as info:
        apply_validation(_ckd(), results, "r.json", site="site-9")
    assert info.value.column == "sites.site-9"
    with pytest.raises(InputError, match="have: pooled, site-1"):
        apply_validation(_ckd(), results, "r.json", site="site-7")


def test_beta_from_counts_uses_jeffreys_at_the_edges() -> None:
    assert beta_from_counts(30, 40) == (30, 10)
    assert beta_from_counts(0, 40) == (0.5, 40.5)
    with pytest.raises(ValueError, match="0 ≤ k ≤ n"):
        beta_from_counts(5, 3)
