"""Validation results → model inputs: sensitivity, specificity and prevalence, pooled or per site, as Beta inputs.

The file is the one results format `dari validate` writes (`dari-validation-results/1`,
`dari.reports.results_file`). A proportion k/n becomes Beta(k, n − k) — the distribution of a proportion observed
as k of n (Briggs, Claxton & Sculpher 2006, §4.3.1) — and Jeffreys' Beta(k + ½, n − k + ½) when k is 0 or n.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dari.econ.spec import Distribution, ModelSpec, Parameter
from dari.errors import InputError
from dari.reports.results_file import ResultsSummary, SiteSummary, load_summary

POOLED = "pooled"


@dataclass(frozen=True)
class ValidatedInput:
    """One input taken from the validation: its value, Beta(α, β) and where it came from."""

    label: str  # sensitivity, specificity or prevalence
    value: float
    alpha: float
    beta: float
    numerator: int
    denominator: int
    ci: tuple[float, float] | None


def load_validation(path: Path) -> ResultsSummary:
    """Read and check a results file written by `dari validate --json`."""
    return load_summary(path)


def beta_from_counts(k: int, n: int) -> tuple[float, float]:
    """Beta(k, n − k) for k of n; Jeffreys' Beta(k + ½, n − k + ½) when k is 0 or n (a Beta needs α, β > 0)."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 ≤ k ≤ n and n ≥ 1, got k = {k}, n = {n}")
    return (k, n - k) if 0 < k < n else (k + 0.5, n - k + 0.5)


def site_inputs(results: ResultsSummary, site: str, source: str) -> dict[str, ValidatedInput]:
    """Sensitivity, specificity and prevalence of one site (or `pooled`) with their Beta distributions."""
    entry: SiteSummary | None = results.pooled if site == POOLED else results.sites.get(site)
    column = POOLED if site == POOLED else f"sites.{site}"
    if entry is None:
        known = ", ".join([POOLED, *results.sites])
        raise InputError(f"no site {site!r} in the validation results (have: {known})", file=source, column=column)
    if entry.status != "ok" or entry.n is None or entry.events is None:
        raise InputError(f"site {site!r} has no result ({entry.status}: {entry.reason})", file=source, column=column)
    out: dict[str, ValidatedInput] = {}
    if entry.accuracy is not None:
        for label in ("sensitivity", "specificity"):
            p = getattr(entry.accuracy, label)
            a, b = beta_from_counts(p.numerator, p.denominator)
            out[label] = ValidatedInput(label, p.estimate, a, b, p.numerator, p.denominator, (p.ci_low, p.ci_high))
    a, b = beta_from_counts(entry.events, entry.n)
    out["prevalence"] = ValidatedInput("prevalence", entry.events / entry.n, a, b, entry.events, entry.n, None)
    return out


def apply_validation(spec: ModelSpec, results: ResultsSummary, source: str, *, site: str | None = None) -> ModelSpec:
    """Replace the parameters `[validation]` names by the validated values and their Beta distributions."""
    mapping = spec.validation
    if mapping is None:
        raise InputError("the model has no [validation] table naming the parameters to override", file=spec.file)
    chosen = site or mapping.site
    found = site_inputs(results, chosen, source)
    params = dict(spec.parameters)
    for label in ("sensitivity", "specificity", "prevalence"):
        name = getattr(mapping, label)
        if name is None:
            continue
        if label not in found:
            raise InputError(
                f"site {chosen!r} released no {label} (its 2×2 table was withheld by disclosure control)",
                file=source,
                column=f"sites.{chosen}.accuracy",
            )
        v = found[label]
        where = f"{source}: {chosen} {label} {v.numerator}/{v.denominator} (job {results.job_id}, model "
        where += f"{results.model_sha256[:12]})"
        params[name] = _beta(params[name], v, where)
    return spec.model_copy(update={"parameters": params})


def _beta(old: Parameter, v: ValidatedInput, source: str) -> Parameter:
    dist = Distribution(type="beta", alpha=v.alpha, beta=v.beta)
    return old.model_copy(update={"value": v.value, "distribution": dist, "source": source, "low": None, "high": None})
