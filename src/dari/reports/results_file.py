"""Read `dari validate --json` output into the typed run it came from; bad input names the file and field."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from dari.errors import InputError
from dari.federation.flower.jobs import ValidationRun
from dari.validation import SubgroupVariable

_SUBGROUPS = TypeAdapter(dict[str, tuple[SubgroupVariable, ...]])


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
    where = ".".join([prefix, *(str(p) for p in first["loc"])])
    return InputError(f"not a dari validation result: {first['msg']}", file=source, column=where)


def parse_results(doc: Any, *, source: str = "<results>") -> ReportInputs:
    """Validate a results document (already parsed JSON) against the validation run's schema."""
    if not isinstance(doc, dict):
        raise InputError(f"must be a JSON object, got {type(doc).__name__}", file=source)
    if "detail" not in doc:
        raise InputError("missing the full run (written by `dari validate --json`)", file=source, column="detail")
    try:
        run = ValidationRun.model_validate(doc["detail"])
    except ValidationError as exc:
        raise _field_error(exc, "detail", source) from None
    top_sha = doc.get("model_sha256")
    if top_sha is not None and top_sha != run.model_sha256:
        raise InputError(f"{top_sha!r} differs from detail.model_sha256", file=source, column="model_sha256")
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
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read results: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("results must be UTF-8 JSON", file=str(path)) from None
    try:
        doc = json.loads(text)  # NaN and Infinity are accepted: dari writes undefined statistics as NaN
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", file=str(path), row=exc.lineno) from None
    return parse_results(doc, source=str(path))
