"""The multicenter validation report: `dari validate --json` results (+ model card) → HTML and PDF, Korean or English.

`load_results` reads and checks the results file, `build_report` assembles the report record in one language
(sections, tables, TRIPOD+AI checklist), `render_report` draws the figures and renders both files in memory, and
`write_report` writes them atomically. docs/validation-report.md describes the contents.
"""

from dari.reports.i18n import LANGS, Lang
from dari.reports.report_model import Section, Table, ValidationReport
from dari.reports.results_file import ReportInputs, load_results, parse_results
from dari.reports.tripod_ai import CHECKLIST, TripodItem
from dari.reports.validation_report import build_report
from dari.reports.writer import RenderedReport, render_report, write_report

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
