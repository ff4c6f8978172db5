"""Show a QualityReport in the terminal with Rich; fetching (runner) and showing (here) stay apart."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from dari.quality.report import CheckResult, QualityReport

_STYLE = {"passed": "green", "failed": "red", "error": "magenta", "not_applicable": "dim"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}%"


def _summary_table(report: QualityReport) -> Table:
    s = report.summary
    declared = f"declares {report.cdm_version}, " if report.cdm_version else ""
    caption = f"OMOP CDM: {declared}checked as {report.checked_as}" + (
        f" ({report.version_note})" if report.version_note else ""
    )
    table = Table(title=f"Data quality — {report.cdm}", title_justify="left", caption=caption)
    for column in ("Category", "Passed", "Failed", "Error", "N/A", "Pass rate"):
        table.add_column(column, justify="left" if column == "Category" else "right")
    for name, cat in s.categories.items():
        table.add_row(
            name,
            str(cat.passed),
            str(cat.failed),
            str(cat.error),
            str(cat.not_applicable),
            _pct(cat.pass_rate),
        )
    table.add_row(
        "[bold]Overall",
        f"[bold]{s.passed}",
        f"[bold]{s.failed}",
        f"[bold]{s.error}",
        f"[bold]{s.not_applicable}",
        f"[bold]{_pct(s.overall_score)}",
    )
    return table


def _where(r: CheckResult) -> str:
    where = ".".join(p for p in (r.table, r.field) if p)
    return f"{where} [{r.concept}]" if r.concept else where


def _detail_table(rows: list[CheckResult]) -> Table:
    table = Table(title="Checks that failed or could not run", title_justify="left")
    for column in ("Status", "Severity", "Check", "Where", "Violated", "Rows", "%", "Threshold", "Message"):
        table.add_column(
            column,
            justify="right" if column in ("Violated", "Rows", "%", "Threshold") else "left",
            overflow="fold",
        )
    for r in rows:
        table.add_row(
            f"[{_STYLE[r.status]}]{r.status}",
            r.severity,
            r.check_name,
            _where(r),
            "" if r.num_violated_rows is None else str(r.num_violated_rows),
            "" if r.num_denominator_rows is None else str(r.num_denominator_rows),
            _pct(r.pct_violated),
            f"{r.threshold:g}",
            r.error or "",
        )
    return table


def render_report(report: QualityReport, console: Console, *, show_passed: bool = False, max_rows: int = 60) -> None:
    """Print the summary, then failed and errored checks (fatal first), up to `max_rows` of them."""
    console.print(_summary_table(report))
    wanted = {"failed", "error"} | ({"passed"} if show_passed else set())
    order = {"fatal": 0, "convention": 1, "characterization": 2}
    rows = sorted(
        (r for r in report.results if r.status in wanted),
        key=lambda r: (r.status != "failed", order.get(r.severity, 3), -(r.pct_violated or 0)),
    )
    if rows:
        console.print(_detail_table(rows[:max_rows]))
        if len(rows) > max_rows:
            console.print(f"[dim]… and {len(rows) - max_rows} more; see the JSON report.")
    console.print(
        f"[dim]{len(report.results)} checks on {report.dialect} in {report.duration_s:.1f} s; "
        f"{report.summary.failed_fatal} fatal failure(s)."
    )
