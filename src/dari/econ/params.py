"""Parameter values for one run: base case, PSA draws, and overrides; derived parameters follow their inputs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dari.econ import distributions
from dari.econ.expr import TIME_VARIABLES, Array, parse
from dari.econ.spec import ModelSpec

Values = dict[str, Array]


def derived_order(spec: ModelSpec) -> list[str]:
    """Derived (expression-valued) parameters in an order where each comes after what it reads (topological)."""
    lookups = frozenset(spec.lookups)
    pending = {k: parse(p.value, lookups).names for k, p in spec.parameters.items() if isinstance(p.value, str)}
    order: list[str] = []
    while pending:
        ready = [k for k, deps in pending.items() if not deps & pending.keys()]
        if not ready:
            raise ValueError(f"derived parameters depend on each other in a cycle: {sorted(pending)}")
        for k in sorted(ready):
            order.append(k)
            del pending[k]
    return order


def time_dependent(spec: ModelSpec) -> set[str]:
    """Derived parameters that read the cycle (model_time, age or a cycle-indexed table), directly or not: the
    engine evaluates them per cycle, shape (cycles, n)."""
    lookups = frozenset(spec.lookups)
    found = set(TIME_VARIABLES) | set(spec.tables)
    for k in derived_order(spec):
        if parse(spec.parameters[k].value, lookups).names & found:
            found.add(k)
    return found - set(TIME_VARIABLES) - set(spec.tables)


def lookup_functions(spec: ModelSpec) -> dict[str, object]:
    """The model's look-up tables as callables for expressions."""
    from dari.econ.lookup import LookupTable

    return {name: LookupTable(name, lk) for name, lk in spec.lookups.items()}


def primary_base(spec: ModelSpec) -> dict[str, float]:
    """Base-case values of the primary (numeric) parameters and of each Dirichlet key (count / total)."""
    values = {k: float(p.value) for k, p in spec.parameters.items() if not isinstance(p.value, str)}
    for group in spec.dirichlet.values():
        total = sum(group.counts.values())
        values.update({k: c / total for k, c in group.counts.items()})
    return values


def complete(spec: ModelSpec, primary: Mapping[str, Array]) -> Values:
    """Add the derived parameters, evaluated on the (vectorised) primary values."""
    values: Values = dict(primary)
    n = len(next(iter(primary.values()))) if primary else 1
    later = time_dependent(spec)
    env: dict[str, object] = {**lookup_functions(spec), **values}
    for k in derived_order(spec):
        if k in later:
            continue
        expr = parse(spec.parameters[k].value, frozenset(spec.lookups))
        values[k] = np.broadcast_to(np.asarray(expr.evaluate(env), dtype=float), (n,)).copy()
        env[k] = values[k]
    return values


def base_values(spec: ModelSpec, overrides: Mapping[str, float] | None = None) -> Values:
    """All parameters at their base values, as arrays of length one; `overrides` replace primary values."""
    primary = {k: np.array([v]) for k, v in primary_base(spec).items()}
    for k, v in (overrides or {}).items():
        primary[k] = np.array([v])
    return complete(spec, primary)


def columns(spec: ModelSpec, variants: list[Mapping[str, float]]) -> Values:
    """One column per variant of the base case (e.g. each one-way bound), so one vectorised run evaluates all."""
    base = primary_base(spec)
    primary = {k: np.array([var.get(k, v) for var in variants]) for k, v in base.items()}
    return complete(spec, primary)


def sample(spec: ModelSpec, n: int, rng: np.random.Generator) -> Values:
    """n joint PSA draws of every parameter: independent primaries, Dirichlet groups jointly, derived ones after."""
    primary: Values = {}
    for k, p in spec.parameters.items():
        if not isinstance(p.value, str):
            primary[k] = distributions.draw(p.distribution, float(p.value), n, rng)
    for group in spec.dirichlet.values():
        rows = distributions.dirichlet(np.array(list(group.counts.values())), n, rng)
        primary.update({k: rows[:, i] for i, k in enumerate(group.counts)})
    for corr in spec.correlated.values():  # drawn after the independent ones, so adding a group keeps their draws
        mean = np.array(corr.mean or [float(spec.parameters[k].value) for k in corr.parameters])
        factor = distributions.cholesky_factor(np.array(corr.covariance))
        rows = distributions.multivariate_normal(mean, factor, n, rng)
        primary.update({k: rows[:, i] for i, k in enumerate(corr.parameters)})
    return complete(spec, primary)
