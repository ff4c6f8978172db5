"""A finding of the airlock's automatic checks, and the log one file's checks write their findings to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dari.disclosure import DisclosureRules
from dari.pods import output_rules as R  # noqa: N812 (the rule table, read as R.RULES)
from dari.pods.output_rules import CheckSettings, Severity

#: Findings kept per file (a 1,000-column table would otherwise list every column).
MAX_FINDINGS = 100


class Finding(BaseModel):
    """One rule that fired on one file: where (row and column when relevant), which rule, what it means."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    file: str = Field(max_length=300)
    rule: str = Field(max_length=40)
    severity: Severity
    message_ko: str = Field(max_length=300)
    message_en: str = Field(max_length=300)
    row: int | None = Field(default=None, description="1-based row of the file or table (CSV: the header is row 1)")
    column: str | None = None
    detail: str = Field(default="", max_length=300, description="where in the file; never a value from it")


class FindingLog:
    """What one file's checks share: its name, the site's floor, the cohort's size, the thresholds, the findings."""

    def __init__(self, name: str, rules: DisclosureRules, cohort_size: int | None, settings: CheckSettings) -> None:
        self.name, self.rules, self.cohort_size, self.settings = name, rules, cohort_size, settings
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, str | None, str]] = set()

    def add(self, rule: str, *, row: int | None = None, column: str | None = None, detail: str = "") -> None:
        """Record a finding of `rule` (once per rule, column and table)."""
        key, r = (rule, column, detail.split(":", 1)[0]), R.RULES[rule]
        if key in self._seen:
            return
        if len(self.findings) >= MAX_FINDINGS and (r.severity != "block" or any(f.rule == rule for f in self.findings)):
            return  # past the cap only a rule that blocks and has not fired yet is added: a block is never lost
        self._seen.add(key)
        self.findings.append(
            Finding(
                file=self.name,
                rule=rule,
                severity=r.severity,
                message_ko=r.ko,
                message_en=r.en,
                row=row,
                column=None if column is None else column[:100],
                detail=detail[:300],
            )
        )
