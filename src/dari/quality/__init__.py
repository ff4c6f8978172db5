"""OMOP CDM data-quality checks in the spirit of OHDSI's DataQualityDashboard: checks are rows of a table.

`run_checks(store)` expands `data/check_descriptions.csv` over the CDM field table, applies
`data/thresholds.csv`, counts every check inside the database and returns a `QualityReport` of counts
only (it may leave the site). `render_report(report, console)` shows it with Rich.
"""

from dari.quality.catalog import (
    CheckDescription,
    ConceptKey,
    ThresholdRow,
    load_check_descriptions,
    load_thresholds,
)
from dari.quality.render import render_report
from dari.quality.report import CheckResult, QualityReport, Summary
from dari.quality.runner import run_checks

__all__ = [
    "CheckDescription",
    "CheckResult",
    "ConceptKey",
    "QualityReport",
    "Summary",
    "ThresholdRow",
    "load_check_descriptions",
    "load_thresholds",
    "render_report",
    "run_checks",
]
