"""Validation results → model inputs: sensitivity, specificity and prevalence with CIs become beta distributions."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dari.econ.distributions import beta_from_ci
from dari.econ.spec import Distribution, ModelSpec, Parameter
from dari.errors import InputError


class Estimate(BaseModel):
    """A proportion with its 95 % confidence interval."""

    model_config = ConfigDict(extra="forbid")
    estimate: float = Field(ge=0, le=1)
    ci_low: float = Field(ge=0, le=1)
    ci_high: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Estimate:
        if not self.ci_low <= self.estimate <= self.ci_high:
            raise ValueError("need ci_low ≤ estimate ≤ ci_high")
        return self


class SiteResult(BaseModel):
    """One site's (or the pooled) diagnostic accuracy."""

    model_config = ConfigDict(extra="forbid")
    n: int = Field(ge=1)
    sensitivity: Estimate
    specificity: Estimate
    prevalence: float | None = Field(None, ge=0, le=1)


class ValidationResults(BaseModel):
    """`dari-validation/1`: an AI tool's external validation, per site and pooled (docs/economic-evaluation.md)."""

    model_config = ConfigDict(extra="forbid")
    schema_: str = Field("dari-validation/1", alias="schema")
    model: str = ""
    sites: dict[str, SiteResult] = Field(default_factory=dict)
    pooled: SiteResult


def load_validation(path: Path) -> ValidationResults:
    """Read and validate a validation-result JSON file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ValidationResults.model_validate(raw)
    except OSError as exc:
        raise InputError(f"cannot read validation results: {exc.strerror}", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=str(path), row=exc.lineno) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(first["msg"], file=str(path), column=where) from None


def apply_validation(spec: ModelSpec, results: ValidationResults, source: str) -> ModelSpec:
    """Replace the mapped parameters: Beta from the CI by method of moments; prevalence Beta(p·n, (1−p)·n)."""
    mapping = spec.validation
    if mapping is None:
        raise InputError("the model has no [validation] table naming the parameters to override", file=spec.file)
    site = results.pooled if mapping.site == "pooled" else results.sites.get(mapping.site)
    if site is None:
        raise InputError(f"no site {mapping.site!r} in the validation results", file=source, column="sites")
    params = dict(spec.parameters)
    for label, est in (("sensitivity", site.sensitivity), ("specificity", site.specificity)):
        name = getattr(mapping, label)
        if name is None:
            continue
        try:
            a, b = beta_from_ci(est.estimate, est.ci_low, est.ci_high)
        except ValueError as exc:
            raise InputError(str(exc), file=source, column=f"{mapping.site}.{label}") from None
        params[name] = _beta(params[name], est.estimate, a, b, f"{source} ({mapping.site} {label})")
    if mapping.prevalence is not None and site.prevalence is not None:
        p = site.prevalence
        if not 0 < p < 1:
            raise InputError(f"prevalence {p} must lie strictly inside (0, 1)", file=source, column="prevalence")
        params[mapping.prevalence] = _beta(
            params[mapping.prevalence], p, p * site.n, (1 - p) * site.n, f"{source} ({mapping.site} prevalence)"
        )
    return spec.model_copy(update={"parameters": params})


def _beta(old: Parameter, value: float, a: float, b: float, source: str) -> Parameter:
    dist = Distribution(type="beta", alpha=a, beta=b)
    return old.model_copy(update={"value": value, "distribution": dist, "source": source, "low": None, "high": None})
