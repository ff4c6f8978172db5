"""Automatic checks of a held pod run's outputs before two output checkers see them (the airlock's first line).

Each file is typed by its content (magic bytes, XML/HTML roots, UTF-8 text), never by its extension alone, and
checked by the rules of `dari.pods.output_rules`: tables (CSV, Markdown pipe tables, HTML tables) for small cells
below the site's floor (`dari.disclosure.DisclosureRules.min_cell`), row-level outputs (rows against the cohort's
persons), identifier-like and day-precision date columns, and wide tables; PNGs chunk by chunk (unknown or large
ancillary chunks, data after IEND, pixel data that does not match the image's size, incompressible pixels); SVG and
HTML for scripts, event handlers, data URIs and external references. A finding names the file, row and column and
the rule, never a value: the findings travel to the hub with the manifest while the contents stay at the site.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from dari.disclosure import DisclosureRules
from dari.pods import output_rules as R  # noqa: N812 (the rule table, read as R.RULES, R.ALLOWED_KINDS …)
from dari.pods.output_findings import MAX_FINDINGS, Finding, FindingLog
from dari.pods.output_markup import check_svg
from dari.pods.output_png import PNG_SIGNATURE, check_png
from dari.pods.output_rules import CheckSettings
from dari.pods.output_tables import check_csv, check_html, check_table, check_text, markdown_tables

__all__ = ["FileReport", "Finding", "OutputReport", "check_file", "check_outputs", "check_table", "markdown_tables"]


class FileReport(BaseModel):
    """One output file as the manifest lists it: name, size, SHA-256, content type and findings (never content)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^([0-9a-f]{64})?$", description="empty for what is not a plain file")
    kind: str | None = Field(description="content type found: csv, png, svg, html, md, txt, or None (refused)")
    findings: list[Finding] = Field(default_factory=list, max_length=MAX_FINDINGS + len(R.RULES))

    @property
    def blocked(self) -> bool:
        """Whether a blocking finding keeps the file at the site whatever the checkers decide."""
        return any(f.severity == "block" for f in self.findings)


class OutputReport(BaseModel):
    """The automatic checks of one run's outputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    files: list[FileReport]
    min_cell: int

    @property
    def findings(self) -> list[Finding]:
        """Every finding, file by file."""
        return [f for r in self.files for f in r.findings]

    def releasable(self) -> list[str]:
        """Names of the files no blocking rule holds back."""
        return [r.name for r in self.files if not r.blocked]


def check_outputs(
    folder: Path,
    *,
    rules: DisclosureRules | None = None,
    cohort_size: int | None = None,
    settings: CheckSettings | None = None,
) -> OutputReport:
    """Check every file under `folder` (a held run's outputs) against the site's floor and the cohort's size."""
    r, s = rules or DisclosureRules(), settings or CheckSettings()
    reports = [
        check_file(path, path.relative_to(folder).as_posix(), rules=r, cohort_size=cohort_size, settings=s)
        for path in sorted(folder.rglob("*"))
        if not path.is_dir() or path.is_symlink()
    ]
    return OutputReport(files=reports, min_cell=r.min_cell)


def check_file(
    path: Path,
    name: str,
    *,
    rules: DisclosureRules | None = None,
    cohort_size: int | None = None,
    settings: CheckSettings | None = None,
) -> FileReport:
    """The report of one output file; a check that fails to run is a `check_error` finding, never a pass."""
    ctx = FindingLog(name, rules or DisclosureRules(), cohort_size, settings or CheckSettings())
    if path.is_symlink() or not path.is_file():
        ctx.add("file_type", detail="not a plain file")
        return FileReport(name=name, size=0, sha256="", kind=None, findings=ctx.findings)
    data = path.read_bytes()
    kind = sniff(data, path.suffix.lower())
    try:
        _CHECKS.get(kind or "", _no_check)(data, ctx)
    except Exception as exc:  # a malformed file is held back, the reason recorded apart from the rules' findings
        ctx.add("check_error", detail=type(exc).__name__)
    if kind is None:
        ctx.add("file_type", detail=f"extension {path.suffix.lower()[:16] or '(none)'}")
    elif path.suffix.lower() not in R.ALLOWED_KINDS[kind]:
        ctx.add("type_mismatch", detail=f"content {kind}, extension {path.suffix.lower()[:16] or '(none)'}")
    return FileReport(
        name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(), kind=kind, findings=ctx.findings
    )


def sniff(data: bytes, suffix: str) -> str | None:
    """The file's kind from its content: png, svg, html, or a text kind (csv, md, txt) named by the extension."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    head = text[:2048].lstrip().lower()
    head = re.sub(r"^(<\?xml[^>]*>\s*|<!--.*?-->\s*)+", "", head, flags=re.DOTALL)
    if head.startswith("<svg") or (head.startswith("<!doctype svg") and "<svg" in head):
        return "svg"
    if head.startswith(("<!doctype html", "<html")):
        return "html"
    for kind in ("csv", "md", "txt"):
        if suffix in R.ALLOWED_KINDS[kind]:
            return kind
    if suffix in R.ALLOWED_KINDS["html"]:  # an HTML fragment without a root element
        return "html"
    return None


def _no_check(data: bytes, ctx: FindingLog) -> None:
    """Files of no allowed kind are refused by `file_type`; nothing else to check."""


_CHECKS = {
    "csv": check_csv,
    "md": check_text,
    "txt": check_text,
    "html": check_html,
    "svg": check_svg,
    "png": check_png,
}
