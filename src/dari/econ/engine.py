"""Evaluate every strategy of a model on (vectorised) parameter values: tree, Markov trace, costs, QALYs, life-years."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from dari.econ import markov
from dari.econ.expr import Array, Expression, ExpressionError, parse
from dari.econ.params import Values, derived_order, lookup_functions, time_dependent
from dari.econ.spec import Branch, Expr, ModelSpec, Strategy
from dari.errors import InputError

# Probabilities may miss [0, 1] or a row sum by float noise only.
TOLERANCE = 1e-9
BRANCHES: tuple[Branch, ...] = ("TP", "FP", "FN", "TN")


@dataclass
class StrategyResult:
    """Totals per iteration (arrays of length n) and, for small runs, the Markov trace."""

    cost: Array
    qaly: Array
    ly: Array
    cost_undiscounted: Array
    qaly_undiscounted: Array
    ly_undiscounted: Array
    cycle_costs: Array | None = None  # (N, n) undiscounted, cycle 1 includes the one-off and tree costs
    trace: Array | None = None  # (N+1, n, S)
    branches: dict[str, Array] = field(default_factory=dict)


class _Context:
    """What one evaluation needs: the spec, the parameter environment (with tables) and error reporting."""

    def __init__(self, spec: ModelSpec, values: Values, where: str) -> None:
        self.spec = spec
        self.where = where
        self.lookups = frozenset(spec.lookups)
        self.n = len(next(iter(values.values()))) if values else 1
        self.env: dict[str, object] = {**lookup_functions(spec), **values}
        cycles = spec.model.horizon
        t = np.arange(1, cycles + 1, dtype=float)[:, None]  # (N, 1): broadcasts over iterations
        self.env["model_time"] = t
        if spec.model.start_age is not None:
            self.env["age"] = spec.model.start_age + t * spec.model.cycle_length
        for name, rows in spec.tables.items():
            table = np.stack([self.scalar(e, f"tables.{name}") for e in rows])  # (L, n)
            # one row per cycle, so tables combine with model_time; past the end the last entry repeats
            self.env[name] = table[markov.cycle_index(np.arange(1, cycles + 1), len(rows))]
        later = time_dependent(spec)
        for k in derived_order(spec):
            if k in later:
                self.env[k] = self.evaluate(spec.parameters[k].value, f"parameters.{k}.value")

    def with_strategy(self, name: str, strat: Strategy) -> _Context:
        """A context with the strategy's own variables (`strategies.NAME.set`) added, in their order."""
        if not strat.set:
            return self
        other = object.__new__(_Context)
        other.__dict__.update(self.__dict__)
        other.env = dict(self.env)
        for var, expr in strat.set.items():
            value = other.evaluate(expr, f"strategies.{name}.set.{var}")
            other.env[var] = value[0] if value.shape[0] == 1 else value
        return other

    def fail(self, message: str, column: str) -> InputError:
        suffix = f" ({self.where})" if self.where else ""
        return InputError(message + suffix, file=self.spec.file or None, column=column)

    def evaluate(self, expr: Expr, column: str) -> Array:
        """An expression as shape (T, n): T = 1 unless it reads a cycle-indexed table."""
        parsed: Expression = parse(expr, self.lookups)
        try:
            raw = np.asarray(parsed.evaluate(self.env), dtype=float)
        except ExpressionError as exc:
            raise self.fail(f"{exc} in {parsed.text!r}", column) from None
        if raw.ndim <= 1:
            return np.broadcast_to(raw, (self.n,)).reshape(1, self.n)
        return np.broadcast_to(raw, (raw.shape[0], self.n))

    def scalar(self, expr: Expr, column: str) -> Array:
        """An expression that may not depend on the cycle, shape (n,)."""
        out = self.evaluate(expr, column)
        if out.shape[0] != 1:
            raise self.fail(f"{expr!r} may not use a cycle-indexed table here", column)
        return np.asarray(out[0], dtype=float)

    def check_range(self, value: Array, low: float, high: float, what: str, column: str) -> None:
        bad = (value < low - TOLERANCE) | (value > high + TOLERANCE) | ~np.isfinite(value)
        if bad.any():
            shown = float(value[bad][0]) if value.ndim else float(value)
            raise self.fail(f"{what} = {shown:.6g} lies outside [{low:g}, {high:g}]", column)


def evaluate(
    spec: ModelSpec, values: Mapping[str, Array], *, where: str = "", keep_trace: bool = False
) -> dict[str, StrategyResult]:
    """Run every strategy on parameter arrays of length n (1 for the base case, n for PSA) and return its totals."""
    ctx = _Context(spec, dict(values), where)
    return {
        name: _strategy(ctx.with_strategy(name, strat), name, strat, keep_trace)
        for name, strat in spec.strategies.items()
    }


def _strategy(ctx: _Context, name: str, strat: Strategy, keep_trace: bool) -> StrategyResult:
    spec, n = ctx.spec, ctx.n
    one_off = ctx.scalar(strat.one_off_cost, f"strategies.{name}.one_off_cost")
    ctx.check_range(one_off, 0, np.inf, "one-off cost", f"strategies.{name}.one_off_cost")
    tree_cost = np.zeros(n)
    tree_loss = np.zeros(n)
    branches: dict[str, Array] = {}
    start: Array | None = None
    if spec.tree is not None:
        branches, tree_cost, tree_loss, start = _tree(ctx, name, strat)
    elif spec.decision is not None:
        from dari.econ.decision import evaluate_tree  # the general tree lives in its own module

        branches, tree_cost, tree_gain, start = evaluate_tree(ctx, name, strat)
        tree_loss = -tree_gain
    cost0 = one_off + tree_cost
    zero = np.zeros(n)
    if spec.markov is None:
        return StrategyResult(cost0, -tree_loss, zero, cost0, -tree_loss, zero, cost0[None], None, branches)
    m = spec.markov
    states = m.states
    if start is None:
        start = _distribution(ctx, {**m.initial, **strat.initial}, f"strategies.{name}.initial")
    matrices = _matrices(ctx, name, strat)
    trace = markov.run_trace(start, matrices, spec.model.horizon)
    costs = _state_values(ctx, {**m.state_costs, **strat.state_costs}, f"strategies.{name}.state_costs", cost=True)
    utils = _state_values(ctx, {**m.utilities, **strat.utilities}, f"strategies.{name}.utilities", cost=False)
    alive = np.array([[0.0 if s in m.dead else 1.0 for s in states]])[None].repeat(n, axis=1)
    if spec.model.counting_weights is not None:
        weights = markov.user_weights(np.asarray(spec.model.counting_weights, dtype=float))
    else:
        weights = markov.counting_weights(spec.model.counting, spec.model.horizon)
    dt = spec.model.cycle_length
    d_c = markov.discount_factors(spec.model.discount_costs, spec.model.horizon, dt)
    d_e = markov.discount_factors(spec.model.discount_effects, spec.model.horizon, dt)
    flat = np.ones_like(d_c)
    cycle_costs = markov.per_cycle(trace, costs, weights)
    cycle_costs[0] += cost0
    moves = _transition_costs(ctx, name, strat, matrices, trace)  # (N, n): cost of the moves in each cycle
    cycle_costs += moves
    moved = markov.ordered_sum(d_c[1:, None] * moves)  # a move in cycle t is counted at its end, point t
    return StrategyResult(
        cost=cost0 + markov.accumulate(trace, costs, weights, d_c) + moved,
        qaly=markov.accumulate(trace, utils, weights, d_e) * dt - tree_loss,
        ly=markov.accumulate(trace, alive, weights, d_e) * dt,
        cost_undiscounted=cost0 + markov.accumulate(trace, costs, weights, flat) + markov.ordered_sum(moves),
        qaly_undiscounted=markov.accumulate(trace, utils, weights, flat) * dt - tree_loss,
        ly_undiscounted=markov.accumulate(trace, alive, weights, flat) * dt,
        cycle_costs=cycle_costs,
        trace=trace if keep_trace else None,
        branches=branches,
    )


def _tree(ctx: _Context, name: str, strat: Strategy) -> tuple[dict[str, Array], Array, Array, Array | None]:
    tree = ctx.spec.tree
    assert tree is not None
    prev = ctx.scalar(tree.prevalence, "tree.prevalence")
    ctx.check_range(prev, 0, 1, "prevalence", "tree.prevalence")
    acc = []
    for label, expr in (("sensitivity", strat.sensitivity), ("specificity", strat.specificity)):
        column = f"strategies.{name}.{label}"
        if expr is None:
            raise ctx.fail(f"strategy {name!r} needs a {label} because the model has a diagnostic tree", column)
        value = ctx.scalar(expr, column)
        ctx.check_range(value, 0, 1, label, column)
        acc.append(value)
    sens, spec_ = acc
    probs = {"TP": prev * sens, "FN": prev * (1 - sens), "FP": (1 - prev) * (1 - spec_), "TN": (1 - prev) * spec_}
    cost = np.zeros(ctx.n)
    loss = np.zeros(ctx.n)
    start: Array | None = None
    for label in BRANCHES:
        branch = tree.branches.get(label)
        if branch is None:
            continue
        column = f"tree.branches.{label}"
        c = ctx.scalar(branch.cost, f"{column}.cost")
        ctx.check_range(c, 0, np.inf, "branch cost", f"{column}.cost")
        cost += probs[label] * c
        q = ctx.scalar(branch.qaly_loss, f"{column}.qaly_loss")
        ctx.check_range(q, 0, np.inf, "QALY loss (a loss; write a gain as a utility)", f"{column}.qaly_loss")
        loss += probs[label] * q
        if ctx.spec.markov is not None:
            dist = _distribution(ctx, branch.start, f"{column}.start")
            start = probs[label][:, None] * dist + (0 if start is None else start)
    return probs, cost, loss, start


def _distribution(ctx: _Context, entries: Mapping[str, Expr], column: str) -> Array:
    """A starting distribution over the Markov states, shape (n, S); it must sum to one."""
    assert ctx.spec.markov is not None
    states = ctx.spec.markov.states
    out = np.zeros((ctx.n, len(states)))
    for state, expr in entries.items():
        value = ctx.scalar(expr, f"{column}.{state}")
        ctx.check_range(value, 0, 1, f"share in {state}", f"{column}.{state}")
        out[:, states.index(state)] = value
    total = out.sum(axis=1)
    if np.any(np.abs(total - 1) > TOLERANCE):
        raise ctx.fail(f"starting shares sum to {float(total[0]):.12g}, not 1", column)
    return out


def _matrices(ctx: _Context, name: str, strat: Strategy) -> Array:
    """Transition tensor (T, S, S, n): from-state, to-state, iteration; T = 1 unless an entry varies by cycle."""
    m = ctx.spec.markov
    assert m is not None
    states = m.states
    s_count = len(states)
    rows: dict[int, dict[int, Array]] = {}
    complement: dict[int, int] = {}
    depth = 1
    for i, src in enumerate(states):
        row = {**m.transitions.get(src, {}), **strat.transitions.get(src, {})}
        rows[i] = {}
        for dst, expr in row.items():
            column = f"strategies.{name}.transitions.{src}.{dst}"
            j = states.index(dst)
            if isinstance(expr, str) and expr.strip() == "#":
                complement[i] = j
                continue
            value = ctx.evaluate(expr, column)
            ctx.check_range(value, 0, 1, f"P({src} → {dst})", column)
            rows[i][j] = value
            depth = max(depth, value.shape[0])
    mats = np.zeros((depth, s_count, s_count, ctx.n))  # iterations last: contiguous for the trace
    for i, entries in rows.items():
        total = np.zeros((depth, ctx.n))
        for j in sorted(entries):  # added in state order, so a row's total never depends on the chunk size
            mats[:, i, j, :] = entries[j]
            total = total + entries[j]
        column = f"strategies.{name}.transitions.{states[i]}"
        if i in complement:
            rest = 1.0 - total
            if np.any(rest < -TOLERANCE):
                raise ctx.fail(f"probabilities out of {states[i]} sum to {float(total.max()):.12g} > 1", column)
            mats[:, i, complement[i], :] = np.clip(rest, 0.0, 1.0)
        elif np.any(np.abs(total - 1) > TOLERANCE):
            bad = total[np.abs(total - 1) > TOLERANCE][0]
            raise ctx.fail(f"probabilities out of {states[i]} sum to {float(bad):.12g}, not 1", column)
    return mats


def _state_values(ctx: _Context, entries: Mapping[str, Expr], column: str, *, cost: bool) -> Array:
    """Per-state values (T, n, S): costs per cycle (≥ 0) or annual utility weights (≤ 1)."""
    assert ctx.spec.markov is not None
    states = ctx.spec.markov.states
    evaluated = {s: ctx.evaluate(e, f"{column}.{s}") for s, e in entries.items()}
    depth = max([v.shape[0] for v in evaluated.values()], default=1)
    out = np.zeros((depth, ctx.n, len(states)))
    for state, value in evaluated.items():
        if cost:
            ctx.check_range(value, 0, np.inf, f"cost of {state}", f"{column}.{state}")
        else:  # utilities are checked as inputs (kind = "utility"); a product may be discounted or scaled
            ctx.check_range(value, -np.inf, np.inf, f"utility of {state}", f"{column}.{state}")
        out[:, :, states.index(state)] = value
    return out


def _transition_costs(ctx: _Context, name: str, strat: Strategy, matrices: Array, trace: Array) -> Array:
    """Cost of the moves in each cycle t = 1..N, shape (N, n): Σ_ij x_{t−1,i} · P_t[i,j] · c_t[i,j] over i ≠ j."""
    m = ctx.spec.markov
    assert m is not None
    cycles = ctx.spec.model.horizon
    entries: dict[tuple[int, int], tuple[Expr, str]] = {}
    states = m.states
    for dst, expr in {**m.entry_costs, **strat.entry_costs}.items():
        j = states.index(dst)
        for i in range(len(states)):
            if i != j:
                entries[i, j] = (expr, f"strategies.{name}.entry_costs.{dst}")
    for src, row in (*m.transition_costs.items(), *strat.transition_costs.items()):
        for dst, expr in row.items():
            entries[states.index(src), states.index(dst)] = (expr, f"strategies.{name}.transition_costs.{src}.{dst}")
    out = np.zeros((cycles, ctx.n))
    if not entries:
        return out
    p = matrices[markov.cycle_index(np.arange(1, cycles + 1), matrices.shape[0])]  # (N, S, S, n)
    for (i, j), (expr, column) in entries.items():
        c = ctx.evaluate(expr, column)
        ctx.check_range(c, 0, np.inf, "transition cost", column)
        c_t = c[markov.cycle_index(np.arange(1, cycles + 1), c.shape[0])]
        out += trace[:-1, :, i] * p[:, i, j, :] * c_t
    return out
