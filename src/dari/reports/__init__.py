"""The multicenter validation report: `dari validate --json` results (+ model card) → HTML and PDF, Korean or English.

`load_results` reads and checks the results file, `build_report` assembles the report record in one language
(sections, tables, TRIPOD+AI checklist) from the numbers computed once (`numbers.compute`), `render_report` draws
the figures and renders both files in memory, and `write_report` writes them atomically. docs/validation-report.md
describes the contents. The names load lazily: the pseudonymisation sign-off uses the PDF and HTML renderers
without importing the validation machinery (Flower, models).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dari.reports.i18n import LANGS, Lang
    from dari.reports.report_model import Section, Table, ValidationReport
    from dari.reports.results_file import ReportInputs, load_results, parse_results
    from dari.reports.tripod_ai import CHECKLIST, TripodItem
    from dari.reports.validation_report import build_report
    from dari.reports.writer import RenderedReport, render_report, write_report

_WHERE = {
    "LANGS": "i18n",
    "Lang": "i18n",
    "Section": "report_model",
    "Table": "report_model",
    "ValidationReport": "report_model",
    "ReportInputs": "results_file",
    "load_results": "results_file",
    "parse_results": "results_file",
    "CHECKLIST": "tripod_ai",
    "TripodItem": "tripod_ai",
    "build_report": "validation_report",
    "RenderedReport": "writer",
    "render_report": "writer",
    "write_report": "writer",
}

__all__ = [
    "CHECKLIST",
    "LANGS",
    "Lang",
    "RenderedReport",
    "ReportInputs",
    "Section",
    "Table",
    "TripodItem",
    "ValidationReport",
    "build_report",
    "load_results",
    "parse_results",
    "render_report",
    "write_report",
]


def __getattr__(name: str) -> Any:
    """Import the module holding `name` on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'dari.reports' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dari.reports.{_WHERE[name]}"), name)
