"""The validation results format (`dari-validation-results/1`) and its readers; bad input names the file and field.

`dari validate` writes it (`cli/validate.py` builds the document and checks it against `ResultsSummary` before a
byte is written); `dari report` (`load_results`), `dari econ --validation` (`load_summary`) and the hub read it. The
JSON Schema (`results_schema()`) is generated from the same pydantic models, so writer and readers cannot drift;
docs/results-format.md describes every field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from dari.errors import InputError
from dari.federation.flower.jobs import ValidationRun
from dari.validation import SubgroupVariable

_SUBGROUPS = TypeAdapter(dict[str, tuple[SubgroupVariable, ...]])

#: Name and version of the format; a reader refuses a version it does not know rather than guess.
RESULTS_FORMAT = "dari-validation-results"
RESULTS_VERSION = 1
FORMAT_ID = f"{RESULTS_FORMAT}/{RESULTS_VERSION}"


class _Open(BaseModel):
    # extra keys are kept: a newer writer may add fields that an older reader can ignore within one version
    model_config = ConfigDict(extra="allow", frozen=True)


class Proportion(_Open):
    """k/n with its 95 % Wilson CI (the numerator and denominator let a reader build Beta(k, n − k))."""

    estimate: float = Field(ge=0, le=1)
    ci_low: float = Field(ge=0, le=1)
    ci_high: float = Field(ge=0, le=1)
    numerator: int = Field(ge=0)
    denominator: int = Field(ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Proportion:
        if not self.ci_low <= self.estimate <= self.ci_high:
            raise ValueError(f"need ci_low ≤ estimate ≤ ci_high, got {self.ci_low}, {self.estimate}, {self.ci_high}")
        if self.numerator > self.denominator:
            raise ValueError(f"numerator {self.numerator} exceeds denominator {self.denominator}")
        return self


class Accuracy(_Open):
    """Sensitivity and specificity at the declared threshold (absent where disclosure control withheld the 2×2)."""

    threshold: float = Field(gt=0, lt=1)
    sensitivity: Proportion
    specificity: Proportion


class SiteSummary(_Open):
    """One site's headline figures; figures are present only when `status` is ok."""

    status: Literal["ok", "refused", "failed"] = "ok"
    reason: str = ""
    n: int | None = Field(None, ge=1)
    events: int | None = Field(None, ge=0)
    prevalence: float | None = Field(None, ge=0, le=1)
    auroc: float | None = None
    auroc_ci: tuple[float, float] | None = None
    calibration_slope: float | None = None
    calibration_intercept: float | None = None
    brier: float | None = None
    accuracy: Accuracy | None = None


class PooledSummary(SiteSummary):
    """The pooled figures over the covered sites (from site aggregates only)."""

    sites: list[str] = Field(min_length=1)
    n: int = Field(ge=1)
    events: int = Field(ge=0)
    prevalence: float = Field(ge=0, le=1)


class ResultsSummary(_Open):
    """`dari-validation-results/1`: the part of a results file every reader relies on (`detail` holds the full run)."""

    format: Literal["dari-validation-results/1"]
    job_id: str
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    engine: str
    written_at: str | None = None
    threshold: float | None = Field(None, gt=0, lt=1)
    sites: dict[str, SiteSummary]
    covered: list[str]
    refused: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    pooled: PooledSummary | None
    detail: dict[str, Any]

    @model_validator(mode="after")
    def _sites_known(self) -> ResultsSummary:
        unknown = sorted(set(self.covered) - set(self.sites))
        if unknown:
            raise ValueError(f"covered sites missing from 'sites': {', '.join(unknown)}")
        return self


def results_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the format, generated from the pydantic models both sides use."""
    schema = ResultsSummary.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://dari.example/schemas/{RESULTS_FORMAT}-{RESULTS_VERSION}.json"
    return schema


def parse_summary(doc: Any, *, source: str = "<results>") -> ResultsSummary:
    """Check a results document (parsed JSON) against the format; an unknown version is refused by name."""
    if not isinstance(doc, dict):
        raise InputError(f"must be a JSON object, got {type(doc).__name__}", file=source)
    found = doc.get("format")
    if found is None:
        raise InputError(
            f"not a {RESULTS_FORMAT} file (no 'format'; written by an older dari? rerun `dari validate --json`)",
            file=source,
            column="format",
        )
    if found != FORMAT_ID:
        raise InputError(
            f"format {found!r} is not supported (this dari reads {FORMAT_ID})", file=source, column="format"
        )
    try:
        return ResultsSummary.model_validate(doc)
    except ValidationError as exc:
        raise _field_error(exc, "", source) from None


def read_document(path: Path) -> Any:
    """The parsed JSON of a results file; NaN and Infinity are accepted (dari writes undefined statistics as NaN)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read results: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("results must be UTF-8 JSON", file=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", file=str(path), row=exc.lineno) from None


def load_summary(path: Path) -> ResultsSummary:
    """Read and check a results file's summary (what `dari econ --validation` and the hub use)."""
    return parse_summary(read_document(path), source=str(path))


@dataclass(frozen=True)
class ReportInputs:
    """What the report is built from: the typed run, optional per-site subgroups and the raw document."""

    source: str
    run: ValidationRun
    subgroups: dict[str, tuple[SubgroupVariable, ...]] = field(default_factory=dict)
    centralised: dict[str, Any] | None = None
    document: dict[str, Any] = field(default_factory=dict)


def _field_error(exc: ValidationError, prefix: str, source: str) -> InputError:
    first = exc.errors()[0]
    where = ".".join([p for p in (prefix, *(str(p) for p in first["loc"])) if p])
    return InputError(f"not a dari validation result: {first['msg']}", file=source, column=where)


def parse_results(doc: Any, *, source: str = "<results>") -> ReportInputs:
    """Validate a results document (already parsed JSON): its summary against the format, `detail` against the run."""
    if not isinstance(doc, dict):
        raise InputError(f"must be a JSON object, got {type(doc).__name__}", file=source)
    if "detail" not in doc:
        raise InputError("missing the full run (written by `dari validate --json`)", file=source, column="detail")
    summary = parse_summary(doc, source=source)
    try:
        run = ValidationRun.model_validate(doc["detail"])
    except ValidationError as exc:
        raise _field_error(exc, "detail", source) from None
    if summary.model_sha256 != run.model_sha256:
        raise InputError(
            f"{summary.model_sha256!r} differs from detail.model_sha256", file=source, column="model_sha256"
        )
    try:
        subgroups = _SUBGROUPS.validate_python(doc.get("subgroups") or {})
    except ValidationError as exc:
        raise _field_error(exc, "subgroups", source) from None
    unknown = sorted(set(subgroups) - set(run.sites) - {"pooled"})
    if unknown:
        raise InputError(f"subgroups of sites not in the run: {', '.join(unknown)}", file=source, column="subgroups")
    central = doc.get("centralised")
    return ReportInputs(
        source=source,
        run=run,
        subgroups=subgroups,
        centralised=central if isinstance(central, dict) else None,
        document=doc,
    )


def load_results(path: Path) -> ReportInputs:
    """Read and validate a results.json written by `dari validate --json`."""
    return parse_results(read_document(path), source=str(path))
