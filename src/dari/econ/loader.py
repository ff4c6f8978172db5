"""Load a model file: TOML → pydantic schema → cross-checks of names, states and ranges → base-case dry run."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from dari.econ import distributions
from dari.econ.expr import ExpressionError, parse
from dari.econ.spec import Expr, ModelSpec, Parameter
from dari.errors import InputError

# Rules as data: the range each kind of parameter must respect at its base value.
KIND_RANGES: dict[str, tuple[float, float]] = {
    "probability": (0.0, 1.0),
    "utility": (float("-inf"), 1.0),
    "cost": (0.0, float("inf")),
    "rate": (0.0, float("inf")),
    "ratio": (0.0, float("inf")),
    "count": (0.0, float("inf")),
}
DIST_RANGES: dict[str, tuple[float, float]] = {"beta": (0.0, 1.0), "gamma": (0.0, float("inf"))}
DIST_RANGES["lognormal"] = DIST_RANGES["gamma"]


def load_model(path: Path) -> ModelSpec:
    """Read and validate a model file; every problem is an InputError naming the file and the offending field."""
    file = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read model: {exc.strerror}", file=file) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file=file) from None
    return parse_model(raw, file)


def parse_model(raw: dict[str, object], file: str) -> ModelSpec:
    """Validate an already-parsed TOML document (see load_model)."""
    try:
        spec = ModelSpec.model_validate({**raw, "file": file})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        value = first.get("input")
        shown = f" (value {value!r})" if not isinstance(value, dict | list) else ""
        raise InputError(f"{first['msg']}{shown}", file=file, column=where) from None
    check(spec)
    return spec


def _expressions(spec: ModelSpec) -> Iterator[tuple[str, Expr, bool]]:
    """Every expression in the file: (field path, expression, may it read cycle-indexed tables)."""
    for k, p in spec.parameters.items():
        if isinstance(p.value, str):
            yield f"parameters.{k}.value", p.value, False
    for k, rows in spec.tables.items():
        for i, e in enumerate(rows):
            yield f"tables.{k}[{i}]", e, False
    if spec.tree:
        yield "tree.prevalence", spec.tree.prevalence, False
        for label, b in spec.tree.branches.items():
            yield f"tree.branches.{label}.cost", b.cost, False
            yield f"tree.branches.{label}.qaly_loss", b.qaly_loss, False
            for s, e in b.start.items():
                yield f"tree.branches.{label}.start.{s}", e, False
    if spec.markov:
        m = spec.markov
        for src, row in m.transitions.items():
            for dst, e in row.items():
                yield f"markov.transitions.{src}.{dst}", e, True
        for group, entries in (("state_costs", m.state_costs), ("utilities", m.utilities), ("initial", m.initial)):
            for s, e in entries.items():
                yield f"markov.{group}.{s}", e, group != "initial"
    for name, st in spec.strategies.items():
        base = f"strategies.{name}"
        yield f"{base}.one_off_cost", st.one_off_cost, False
        for field, maybe in (("sensitivity", st.sensitivity), ("specificity", st.specificity)):
            if maybe is not None:
                yield f"{base}.{field}", maybe, False
        for src, row in st.transitions.items():
            for dst, e in row.items():
                yield f"{base}.transitions.{src}.{dst}", e, True
        for group, entries in (("state_costs", st.state_costs), ("utilities", st.utilities), ("initial", st.initial)):
            for s, e in entries.items():
                yield f"{base}.{group}.{s}", e, group != "initial"


def check(spec: ModelSpec) -> None:
    """Cross-checks pydantic cannot do: known names and states, ranges by kind, then a base-case dry run."""
    file = spec.file or None
    names: dict[str, str] = {k: "parameter" for k in spec.parameters}
    for group, g in spec.dirichlet.items():
        for k, c in g.counts.items():
            if k in names:
                raise InputError(f"{k!r} is defined twice", file=file, column=f"dirichlet.{group}")
            if c <= 0:
                raise InputError(f"Dirichlet count {k} = {c} must be positive", file=file, column=f"dirichlet.{group}")
            names[k] = "dirichlet"
    for k in spec.tables:
        if k in names:
            raise InputError(f"{k!r} is defined twice", file=file, column=f"tables.{k}")
        names[k] = "table"
    for where, expr, tables_ok in _expressions(spec):
        if isinstance(expr, str) and expr.strip() == "#":
            if ".transitions." not in where:
                raise InputError("'#' (complement) is allowed in transition rows only", file=file, column=where)
            continue
        try:
            used = parse(expr).names
        except ExpressionError as exc:
            raise InputError(str(exc), file=file, column=where) from None
        for name in sorted(used):
            if name not in names:
                raise InputError(f"unknown parameter {name!r} in {expr!r}", file=file, column=where)
            if names[name] == "table" and not tables_ok:
                raise InputError(f"cycle-indexed table {name!r} cannot be used here", file=file, column=where)
    for k, p in spec.parameters.items():
        _check_parameter(k, p, file)
    _check_structure(spec, file)
    from dari.econ.engine import evaluate  # the dry run needs the engine, which needs this module's schema
    from dari.econ.params import base_values

    try:
        evaluate(spec, base_values(spec), where="base case")
    except ValueError as exc:
        raise InputError(str(exc), file=file) from None


def _check_parameter(name: str, p: Parameter, file: str | None) -> None:
    column = f"parameters.{name}"
    if isinstance(p.value, str):
        if p.distribution is not None:
            raise InputError("a derived parameter cannot have its own distribution", file=file, column=column)
        return
    value = float(p.value)
    low, high = KIND_RANGES.get(p.kind, (float("-inf"), float("inf")))
    if p.distribution is not None:
        d_low, d_high = DIST_RANGES.get(p.distribution.type, (float("-inf"), float("inf")))
        low, high = max(low, d_low), min(high, d_high)
        try:
            distributions.natural(p.distribution)
        except ValueError as exc:
            raise InputError(f"{exc}", file=file, column=column) from None
    if not low <= value <= high:
        what = p.kind if p.kind in KIND_RANGES else p.distribution.type if p.distribution else "value"
        raise InputError(f"{what} {name} = {value:g} lies outside [{low:g}, {high:g}]", file=file, column=column)


def _check_structure(spec: ModelSpec, file: str | None) -> None:
    states = spec.markov.states if spec.markov else []
    if len(set(states)) != len(states):
        raise InputError("Markov states must be unique", file=file, column="markov.states")

    def known(state: str, where: str) -> None:
        if state not in states:
            raise InputError(f"unknown state {state!r} (states: {states})", file=file, column=where)

    if spec.markov:
        for s in spec.markov.dead:
            known(s, "markov.dead")
    for where, _expr, _ in _expressions(spec):
        parts = where.split(".")
        if "transitions" in parts:
            i = parts.index("transitions")
            known(parts[i + 1], where)
            known(parts[i + 2], where)
        elif parts[-2] in {"state_costs", "utilities", "initial", "start"}:
            known(parts[-1], where)
    if spec.markov:
        for src, row in spec.markov.transitions.items():
            if sum(1 for e in row.values() if isinstance(e, str) and e.strip() == "#") > 1:
                raise InputError("at most one '#' per row", file=file, column=f"markov.transitions.{src}")
        missing = [s for s in states if s not in spec.markov.transitions]
        if missing:
            raise InputError(f"no transition row for {missing}", file=file, column="markov.transitions")
    for label in ("comparator", "intervention"):
        ref = getattr(spec.model, label)
        if ref is not None and ref not in spec.strategies:
            raise InputError(f"unknown strategy {ref!r}", file=file, column=f"model.{label}")
    if spec.budget_impact:
        for ref in (spec.budget_impact.new, spec.budget_impact.current):
            if ref not in spec.strategies:
                raise InputError(f"unknown strategy {ref!r}", file=file, column="budget_impact")
        for k in spec.budget_impact.prices:
            if k not in spec.parameters:
                raise InputError(f"unknown parameter {k!r}", file=file, column="budget_impact.prices")
    if spec.validation:
        for label in ("sensitivity", "specificity", "prevalence"):
            ref = getattr(spec.validation, label)
            if ref is not None and ref not in spec.parameters:
                raise InputError(f"unknown parameter {ref!r}", file=file, column=f"validation.{label}")
    if spec.model.counting == "simpson" and spec.model.horizon % 2:
        raise InputError("Simpson's 1/3 rule needs an even horizon", file=file, column="model.horizon")
