"""QualityReport: summary arithmetic, JSON round trip, redaction and the Rich view."""

from __future__ import annotations

import json

from rich.console import Console

from dari.cdm.store import DuckDbStore
from dari.quality import QualityReport, render_report, run_checks
from dari.quality.report import CheckResult, redact, summarise


def _result(status: str, category: str = "Conformance", severity: str = "fatal") -> CheckResult:
    return CheckResult(
        check_name="c",
        level="field",
        kahn_context="Verification",
        kahn_category=category,
        kahn_subcategory="",
        severity=severity,
        description="d",
        threshold=0,
        status=status,
    )  # type: ignore[arg-type]


def test_summarise_counts_and_scores_decided_checks_only() -> None:
    # Prepare
    results = [
        _result("passed"),
        _result("passed"),
        _result("failed"),
        _result("error"),
        _result("not_applicable"),
        _result("passed", "Plausibility"),
    ]
    # Execute
    summary = summarise(results)
    # Assert
    assert (summary.passed, summary.failed, summary.error, summary.not_applicable) == (3, 1, 1, 1)
    assert summary.overall_score == 75.0
    assert summary.categories["Conformance"].pass_rate == 66.67
    assert summary.categories["Completeness"].pass_rate is None
    assert summary.failed_fatal == 1


def test_redact_blanks_quoted_values_and_numbers() -> None:
    # Prepare
    message = "Conversion Error: Could not convert string 'HONG GILDONG' to INT32 at row 8812\nLINE 1: SELECT"
    # Execute
    text = redact(message)
    # Assert
    assert "HONG" not in text and "8812" not in text and "LINE" not in text
    assert "INT32" in text


def test_quality_report_to_json_round_trips_counts_only(cdm: DuckDbStore) -> None:
    # Prepare
    cdm.execute("UPDATE person SET person_source_value = 'PATIENT-SECRET-42'")
    report = run_checks(cdm)
    # Execute
    text = report.to_json()
    # Assert
    assert "PATIENT-SECRET" not in text
    assert QualityReport.from_json(text) == report
    first = json.loads(text)["results"][0]
    assert {
        "check_name",
        "table",
        "field",
        "concept_id",
        "num_violated_rows",
        "num_denominator_rows",
        "pct_violated",
        "threshold",
        "status",
        "error",
    } <= set(first)


def test_render_report_shows_summary_and_failures(cdm: DuckDbStore) -> None:
    # Prepare
    cdm.execute("UPDATE measurement SET value_as_number = 45 WHERE measurement_id = 41")
    report = run_checks(cdm)
    console = Console(record=True, width=200)
    # Execute
    render_report(report, console)
    # Assert
    text = console.export_text()
    assert "Plausibility" in text and "Overall" in text
    assert "plausibleValueHigh" in text and "LOINC 4548-4" in text
