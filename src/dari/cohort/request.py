"""What a Table 1 request asks for: comorbidities and labs, by concept sets that each site resolves itself."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dari.cohort.definition import (
    ConceptRef,
    ConceptSet,
    Domain,
    Window,
    check_concept_set_ids,
    describe_validation_error,
    read_json_document,
)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Comorbidity(_Strict):
    """Persons with at least one event of the concept set in the window (default: any time up to index)."""

    name: str = Field(min_length=1)
    concept_set: str
    domain: Domain = "condition_occurrence"
    window: Window = Window(start_days=None, end_days=0)


class LabRequest(_Strict):
    """The latest value of a measurement in the window (default: 365 days before index to index)."""

    name: str = Field(min_length=1)
    concept_set: str
    unit: ConceptRef | None = Field(default=None, description="only values recorded in this unit (no conversion)")
    window: Window = Window(start_days=-365, end_days=0)
    bin_width: float | None = Field(
        default=None, gt=0, description="histogram grid for pooled quantiles; None: no pooled quantiles"
    )


class TableOneRequest(_Strict):
    """Characteristics to report for a cohort."""

    version: Literal[1] = 1
    concept_sets: list[ConceptSet] = Field(default_factory=list)
    comorbidities: list[Comorbidity] = Field(default_factory=list)
    labs: list[LabRequest] = Field(default_factory=list)
    age_bin_width: int = Field(default=5, ge=1, le=20)

    @model_validator(mode="after")
    def _references(self) -> Self:
        check_concept_set_ids(self.concept_sets)
        known = {c.id for c in self.concept_sets}
        refs = [(f"comorbidities[{i}]", c.name, c.concept_set) for i, c in enumerate(self.comorbidities)]
        refs += [(f"labs[{i}]", lab.name, lab.concept_set) for i, lab in enumerate(self.labs)]
        for path, _, ref in refs:
            if ref not in known:
                raise ValueError(f"{path}.concept_set: unknown concept set {ref!r}")
        for group in ("comorbidities", "labs"):
            names = [name for path, name, _ in refs if path.startswith(group)]
            for i, name in enumerate(names):
                if name in names[:i]:
                    raise ValueError(f"{group}[{i}].name: duplicate name {name!r}")
        return self

    def digest(self) -> str:
        """SHA-256 of the canonical JSON, so pooled Table 1s come from the same request."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_table_one_request(raw: Any, *, file: str | None = None) -> TableOneRequest:
    """Validate an already-parsed JSON document as a Table 1 request."""
    try:
        return TableOneRequest.model_validate(raw)
    except ValidationError as exc:
        raise describe_validation_error(exc, file) from None


def load_table_one_request(source: Path | str) -> TableOneRequest:
    """Read a Table 1 request from a JSON file (a Path) or a JSON text (a str starting with `{`)."""
    raw, file = read_json_document(source, "Table 1 request")
    return parse_table_one_request(raw, file=file)
