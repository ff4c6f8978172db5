"""Results: one row per check, the same shape for every check, counts only — never row contents."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from dari.quality.catalog import CATEGORIES

Status = Literal["passed", "failed", "error", "not_applicable"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "error", "not_applicable")


class CheckResult(BaseModel):
    """The outcome of one check on one table / field / concept."""

    check_name: str
    level: str
    kahn_context: str
    kahn_category: str
    kahn_subcategory: str
    severity: str
    description: str
    table: str | None = None
    field: str | None = None
    concept_id: int | None = None
    concept: str | None = None  # how the thresholds row named it, e.g. "LOINC 4548-4"
    unit_concept_id: int | None = None
    num_violated_rows: int | None = None
    num_denominator_rows: int | None = None
    pct_violated: float | None = None
    threshold: float
    status: Status
    error: str | None = None
    not_applicable_reason: str | None = None


class CategorySummary(BaseModel):
    """Pass counts for one Kahn category; pass_rate = passed / (passed + failed), in percent."""

    passed: int = 0
    failed: int = 0
    error: int = 0
    not_applicable: int = 0
    pass_rate: float | None = None


class Summary(BaseModel):
    """Counts per status, per Kahn category, and the overall score (percent of decided checks that passed)."""

    passed: int = 0
    failed: int = 0
    error: int = 0
    not_applicable: int = 0
    overall_score: float | None = None
    failed_fatal: int = 0
    categories: dict[str, CategorySummary] = Field(default_factory=dict)


def _rate(passed: int, failed: int) -> float | None:
    return round(100.0 * passed / (passed + failed), 2) if passed + failed else None


def summarise(results: list[CheckResult]) -> Summary:
    """Tally results per status and per Kahn category."""
    summary = Summary(categories={c: CategorySummary() for c in CATEGORIES})
    for r in results:
        setattr(summary, r.status, getattr(summary, r.status) + 1)
        cat = summary.categories.setdefault(r.kahn_category, CategorySummary())
        setattr(cat, r.status, getattr(cat, r.status) + 1)
        if r.status == "failed" and r.severity == "fatal":
            summary.failed_fatal += 1
    summary.overall_score = _rate(summary.passed, summary.failed)
    for cat in summary.categories.values():
        cat.pass_rate = _rate(cat.passed, cat.failed)
    return summary


class QualityReport(BaseModel):
    """Everything a quality run found; safe to share beyond the site (no row contents)."""

    cdm: str
    dialect: str
    cdm_version: str | None = None  # as cdm_source.cdm_version declares it
    checked_as: str = "v5.4"  # the CDM version whose tables and fields the checks were run against
    version_note: str | None = None  # why dari had to assume a version, when it did
    started_at: datetime
    duration_s: float
    results: list[CheckResult]
    summary: Summary

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str) -> QualityReport:
        """Read a report written by `to_json`."""
        return cls.model_validate_json(text)

    def failures(self, *, severity: str | None = None) -> list[CheckResult]:
        """Failed checks, optionally only those of one severity (e.g. `fatal`, for a quality gate)."""
        return [r for r in self.results if r.status == "failed" and severity in (None, r.severity)]

    def find(
        self,
        check_name: str,
        table: str | None = None,
        field: str | None = None,
        concept_id: int | None = None,
        unit_concept_id: int | None = None,
    ) -> list[CheckResult]:
        """Results of one check, narrowed by table, field, concept and unit where given."""
        return [
            r
            for r in self.results
            if r.check_name == check_name
            and table in (None, r.table)
            and field in (None, r.field)
            and concept_id in (None, r.concept_id)
            and unit_concept_id in (None, r.unit_concept_id)
        ]


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d.,:\-]*")


def redact(message: str, limit: int = 240) -> str:
    """An engine error as it may leave the site: first line; quoted text and numbers (maybe data) blanked."""
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    return _NUMBER.sub("#", _QUOTED.sub("'…'", first))[:limit]
