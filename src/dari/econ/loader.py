"""Load a model file: TOML → pydantic schema → cross-checks of names, states and ranges → base-case dry run."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from dari.econ import distributions
from dari.econ.expr import ExpressionError, check_name, parse
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
    spec = _read_lookups(spec)
    check(spec)
    return spec


def _read_lookups(spec: ModelSpec) -> ModelSpec:
    """Fill each look-up table's rows from its CSV, so the spec carries its data (PSA workers, reports)."""
    if not any(lk.file for lk in spec.lookups.values()):
        return spec
    from dari.econ.lookup import read_rows

    filled = {
        name: lk.model_copy(update={"rows": read_rows(lk, name, spec.file)}) if lk.file else lk
        for name, lk in spec.lookups.items()
    }
    return spec.model_copy(update={"lookups": filled})


def _expressions(spec: ModelSpec) -> Iterator[tuple[str, Expr, bool]]:
    """Every expression in the file: (field path, expression, may it read cycle-indexed tables)."""
    for k, p in spec.parameters.items():
        if isinstance(p.value, str):
            yield f"parameters.{k}.value", p.value, True  # a derived parameter that reads the cycle is per cycle
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
    if spec.decision:
        for node_id, node in spec.decision.nodes.items():
            base = f"decision.nodes.{node_id}"
            yield f"{base}.cost", node.cost, False
            yield f"{base}.utility", node.utility, False
            for s, e in node.enter.items():
                yield f"{base}.enter.{s}", e, False
            for edge in node.branches:
                yield f"{base}.branches.{edge.to}.cost", edge.cost, False
                if edge.p is not None:
                    yield f"{base}.branches.{edge.to}.p", edge.p, False
    if spec.markov:
        m = spec.markov
        for src, row in m.transitions.items():
            for dst, e in row.items():
                yield f"markov.transitions.{src}.{dst}", e, True
        for src, row in m.transition_costs.items():
            for dst, e in row.items():
                yield f"markov.transition_costs.{src}.{dst}", e, True
        for s, e in m.entry_costs.items():
            yield f"markov.entry_costs.{s}", e, True
        for group, entries in (("state_costs", m.state_costs), ("utilities", m.utilities), ("initial", m.initial)):
            for s, e in entries.items():
                yield f"markov.{group}.{s}", e, group != "initial"
    for name, st in spec.strategies.items():
        base = f"strategies.{name}"
        for var, e in st.set.items():
            yield f"{base}.set.{var}", e, True
        for src, row in st.transition_costs.items():
            for dst, e in row.items():
                yield f"{base}.transition_costs.{src}.{dst}", e, True
        for s, e in st.entry_costs.items():
            yield f"{base}.entry_costs.{s}", e, True
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
    _check_names(spec, file)
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
    names["model_time"] = "table"
    if spec.model.start_age is not None:
        names["age"] = "table"
    for strategy_name, st in spec.strategies.items():
        for var in st.set:
            if names.get(var, "variable") != "variable":
                raise InputError(
                    f"{var!r} is already a {names[var]}", file=file, column=f"strategies.{strategy_name}.set"
                )
            names[var] = "variable"
    lookups = frozenset(spec.lookups)
    from dari.econ.params import derived_order, time_dependent

    try:
        derived_order(spec)
    except ValueError as exc:
        raise InputError(str(exc), file=file, column="parameters") from None
    except ExpressionError as exc:
        raise InputError(str(exc), file=file, column="parameters") from None
    for k in time_dependent(spec):
        names[k] = "table"
    for where, expr, tables_ok in _expressions(spec):
        if isinstance(expr, str) and expr.strip() == "#":
            if ".transitions." not in where and not (where.startswith("decision.") and where.endswith(".p")):
                raise InputError(
                    "'#' (complement) is allowed in transition rows and chance branches only", file=file, column=where
                )
            continue
        try:
            used = parse(expr, lookups).names
        except ExpressionError as exc:
            raise InputError(str(exc), file=file, column=where) from None
        for name in sorted(used):
            if name not in names:
                raise InputError(f"unknown parameter {name!r} in {expr!r}", file=file, column=where)
            if names[name] == "table" and not tables_ok:
                what = "the cycle" if name in ("model_time", "age") else f"{name!r}, which varies by cycle,"
                raise InputError(f"{what} cannot be used here (only in Markov parts)", file=file, column=where)
            if name == "age" and spec.model.start_age is None:
                raise InputError("'age' needs model.start_age", file=file, column=where)
    for k, p in spec.parameters.items():
        _check_parameter(k, p, file)
    _check_structure(spec, file)
    _check_correlated(spec, file)
    for scenario, overrides in spec.scenarios.items():
        for k in overrides:
            param = spec.parameters.get(k)
            if param is None or isinstance(param.value, str):
                raise InputError(f"{k!r} is not a numeric parameter", file=file, column=f"scenarios.{scenario}.{k}")
    for group, members in spec.evppi.items():
        unknown = [k for k in members if k not in names or names[k] not in ("parameter", "dirichlet")]
        if unknown or not members:
            raise InputError(f"EVPPI group needs known parameters, not {unknown}", file=file, column=f"evppi.{group}")
    if spec.decision:
        _check_decision(spec, file)
    from dari.econ.engine import evaluate  # the dry run needs the engine, which needs this module's schema
    from dari.econ.params import base_values

    try:
        evaluate(spec, base_values(spec), where="base case")
    except ValueError as exc:
        raise InputError(str(exc), file=file) from None


def _check_names(spec: ModelSpec, file: str | None) -> None:
    """Names of parameters, tables, look-ups and strategy variables: identifiers, no reserved word."""
    groups: list[tuple[str, list[str]]] = [
        ("parameters", list(spec.parameters)),
        ("tables", list(spec.tables)),
        ("lookups", list(spec.lookups)),
        *((f"dirichlet.{g}", list(d.counts)) for g, d in spec.dirichlet.items()),
        *((f"strategies.{n}.set", list(st.set)) for n, st in spec.strategies.items()),
    ]
    for where, names in groups:
        for name in names:
            problem = check_name(name)
            if problem:
                raise InputError(problem, file=file, column=f"{where}.{name}")


def _check_correlated(spec: ModelSpec, file: str | None) -> None:
    seen: dict[str, str] = {}
    for group, corr in spec.correlated.items():
        column = f"correlated.{group}"
        for k in corr.parameters:
            p = spec.parameters.get(k)
            if p is None or isinstance(p.value, str):
                raise InputError(f"{k!r} is not a numeric parameter", file=file, column=f"{column}.parameters")
            if p.distribution is not None and p.distribution.type != "fixed":
                raise InputError(
                    f"{k!r} has its own distribution; in a correlated group it is drawn jointly",
                    file=file,
                    column=column,
                )
            if k in seen:
                raise InputError(f"{k!r} is in groups {seen[k]!r} and {group!r}", file=file, column=column)
            seen[k] = group
        try:
            distributions.cholesky_factor(np.array(corr.covariance))
        except ValueError as exc:
            raise InputError(str(exc), file=file, column=f"{column}.covariance") from None


def _check_decision(spec: ModelSpec, file: str | None) -> None:
    tree = spec.decision
    assert tree is not None
    nodes = tree.nodes
    roots = {"decision.root": tree.root} | {
        f"strategies.{n}.root": s.root for n, s in spec.strategies.items() if s.root
    }
    for where, root in roots.items():
        if root not in nodes:
            raise InputError(f"unknown node {root!r} (nodes: {sorted(nodes)})", file=file, column=where)
    states = spec.markov.states if spec.markov else []
    for node_id, node in nodes.items():
        for edge in node.branches:
            if edge.to not in nodes:
                raise InputError(f"unknown node {edge.to!r}", file=file, column=f"decision.nodes.{node_id}.branches")
            if edge.strategy is not None and edge.strategy not in spec.strategies:
                raise InputError(
                    f"unknown strategy {edge.strategy!r}", file=file, column=f"decision.nodes.{node_id}.branches"
                )
        for state in node.enter:
            if state not in states:
                raise InputError(
                    f"unknown state {state!r} (states: {states})", file=file, column=f"decision.nodes.{node_id}.enter"
                )
        if spec.markov and node.type == "terminal" and not node.enter:
            raise InputError(
                "with a [markov] model every terminal must say which states it enters",
                file=file,
                column=f"decision.nodes.{node_id}.enter",
            )


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
        moves = [p for p in ("transitions", "transition_costs") if p in parts]
        if moves and parts[0] != "decision":
            i = parts.index(moves[0])
            known(parts[i + 1], where)
            known(parts[i + 2], where)
        elif parts[0] != "decision" and parts[-2] in {"state_costs", "utilities", "initial", "start", "entry_costs"}:
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
    if spec.model.counting == "simpson" and spec.model.horizon % 2 and spec.model.counting_weights is None:
        raise InputError(
            "Simpson's 1/3 rule needs an even horizon; give your own weights in model.counting_weights",
            file=file,
            column="model.horizon",
        )
