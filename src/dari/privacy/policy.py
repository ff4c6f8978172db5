"""Pseudonymisation policies: which treatment each identifying column gets, declared in a TOML file."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dari.errors import InputError
from dari.etl.extract_spec import EXTRACT_FILES

Simple = Literal["keep", "remove", "pseudonym", "shift"]


class Generalise(BaseModel):
    """Keep a coarser form of the value."""

    model_config = ConfigDict(extra="forbid")
    treatment: Literal["generalise"]
    to: Literal["year", "month", "sido", "sigungu", "prefix3", "prefix2"]


class PseudonymSettings(BaseModel):
    """How pseudonyms look."""

    model_config = ConfigDict(extra="forbid")
    prefix: str = Field(default="P", pattern=r"^[A-Z]{0,4}$")
    hex_chars: int = Field(default=20, ge=16, le=64)


class DateSettings(BaseModel):
    """Per-person date shifting."""

    model_config = ConfigDict(extra="forbid")
    max_shift_days: int = Field(default=30, ge=0, le=365)


class NoteSettings(BaseModel):
    """What happens to free text."""

    model_config = ConfigDict(extra="forbid")
    treatment: Literal["deidentify", "withhold"] = "deidentify"


class RiskSettings(BaseModel):
    """The re-identification target the record is checked against."""

    model_config = ConfigDict(extra="forbid")
    target_k: int = Field(default=5, ge=1)
    max_suppression: float = Field(default=0.05, ge=0.0, le=1.0)


class Policy(BaseModel):
    """A whole pseudonymisation policy; `patients` maps every column of patients.csv to its treatment."""

    model_config = ConfigDict(extra="forbid")
    pseudonym: PseudonymSettings = Field(default_factory=PseudonymSettings)
    dates: DateSettings = Field(default_factory=DateSettings)
    notes: NoteSettings = Field(default_factory=NoteSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    patients: dict[str, Simple | Generalise]

    def treatment(self, column: str) -> str:
        """The treatment's name for a column (`generalise:year` for generalisations)."""
        t = self.patients[column]
        return f"generalise:{t.to}" if isinstance(t, Generalise) else t

    def generalised_to(self, column: str) -> str | None:
        """The generalisation level of a column, or None when it is not generalised."""
        t = self.patients.get(column)
        return t.to if isinstance(t, Generalise) else None


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a policy file (the shipped default when `path` is None)."""
    label = str(path) if path else "dari default policy"
    try:
        if path is None:
            text = resources.files("dari.privacy").joinpath("data/default_policy.toml").read_text("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        policy = Policy.model_validate(tomllib.loads(text))
    except FileNotFoundError as exc:
        raise InputError("policy file not found", file=label) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file=label) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(first["msg"], file=label, column=".".join(str(p) for p in first["loc"])) from exc
    columns = EXTRACT_FILES["patients"].columns
    missing = [c for c in columns if c not in policy.patients]
    if missing:
        raise InputError("the policy gives no treatment for this column of patients.csv", file=label, column=missing[0])
    unknown = [c for c in policy.patients if c not in columns]
    if unknown:
        raise InputError("the policy names a column patients.csv does not have", file=label, column=unknown[0])
    if policy.patients["patient_no"] != "pseudonym":
        raise InputError(
            "patient_no must be pseudonymised (the CDM's person key is derived from it)",
            file=label,
            column="patient_no",
        )
    return policy
