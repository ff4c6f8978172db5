"""A decision tree of any shape: chance, decision and terminal nodes; per-strategy values through strategy
variables; terminals' outcomes (cost, utility) and the Markov states they enter.

Expected values roll back from the terminals (Briggs, Claxton & Sculpher 2006, ch. 2): a chance node's value is
Σ_b p_b·(cost_b + value(child_b)); a decision node follows the branch its strategy names; a path's probability is the
product of its branches'. Vectorised over PSA iterations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dari.econ.expr import Array
from dari.econ.spec import Expr, Strategy

if TYPE_CHECKING:
    from dari.econ.engine import _Context

# Probabilities may miss [0, 1] or a sum by float noise only.
TOLERANCE = 1e-9


def evaluate_tree(ctx: _Context, name: str, strat: Strategy) -> tuple[dict[str, Array], Array, Array, Array | None]:
    """Terminal probabilities, expected immediate cost and utility and the Markov start of strategy `name`."""
    tree = ctx.spec.decision
    assert tree is not None
    terminals: dict[str, Array] = {}
    cost = np.zeros(ctx.n)
    utility = np.zeros(ctx.n)
    states = ctx.spec.markov.states if ctx.spec.markov else []
    start = np.zeros((ctx.n, len(states))) if ctx.spec.markov else None
    stack: list[tuple[str, Array, tuple[str, ...]]] = [(strat.root or tree.root, np.ones(ctx.n), ())]
    while stack:
        node_id, prob, path = stack.pop()
        if node_id in path:
            raise ctx.fail(f"the tree returns to node {node_id!r} (a cycle)", f"decision.nodes.{node_id}")
        node = tree.nodes[node_id]
        column = f"decision.nodes.{node_id}"
        c = ctx.scalar(node.cost, f"{column}.cost")
        ctx.check_range(c, 0, np.inf, "node cost", f"{column}.cost")
        cost += prob * c
        if node.type == "terminal":
            u = ctx.scalar(node.utility, f"{column}.utility")
            utility += prob * u
            terminals[node_id] = terminals.get(node_id, 0) + prob
            if start is not None:
                start += np.asarray(prob[:, None] * _enter(ctx, node.enter, f"{column}.enter", states))
            elif node.enter:
                raise ctx.fail("enter needs a [markov] model", f"{column}.enter")
            continue
        if node.type == "decision":
            chosen = [b for b in node.branches if b.strategy == name]
            if len(chosen) != 1:
                raise ctx.fail(f"decision node {node_id!r} has no (single) branch for strategy {name!r}", column)
            edge = chosen[0]
            c = ctx.scalar(edge.cost, f"{column}.branches.{edge.to}.cost")
            cost += prob * c
            stack.append((edge.to, prob, (*path, node_id)))
            continue
        shares: list[Array | None] = []
        for edge in node.branches:
            if isinstance(edge.p, str) and edge.p.strip() == "#":
                shares.append(None)
                continue
            assert edge.p is not None
            p = ctx.scalar(edge.p, f"{column}.branches.{edge.to}.p")
            ctx.check_range(p, 0, 1, f"P({node_id} → {edge.to})", f"{column}.branches.{edge.to}.p")
            shares.append(p)
        given = sum((p for p in shares if p is not None), np.zeros(ctx.n))
        rest = shares.count(None)
        if rest > 1:
            raise ctx.fail("at most one '#' branch per chance node", column)
        if rest == 0 and np.any(np.abs(given - 1) > TOLERANCE):
            raise ctx.fail(f"branch probabilities sum to {float(np.max(given)):.12g}, not 1", column)
        if rest and np.any(given > 1 + TOLERANCE):
            raise ctx.fail(f"branch probabilities sum to {float(np.max(given)):.12g} > 1", column)
        for edge, maybe in zip(node.branches, shares, strict=True):
            share: Array = np.clip(1.0 - given, 0.0, 1.0) if maybe is None else maybe
            c = ctx.scalar(edge.cost, f"{column}.branches.{edge.to}.cost")
            ctx.check_range(c, 0, np.inf, "branch cost", f"{column}.branches.{edge.to}.cost")
            cost += prob * share * c
            stack.append((edge.to, prob * share, (*path, node_id)))
    return terminals, cost, utility, start


def _enter(ctx: _Context, entries: dict[str, Expr], column: str, states: list[str]) -> Array:
    out = np.zeros((ctx.n, len(states)))
    for state, expr in entries.items():
        value = ctx.scalar(expr, f"{column}.{state}")
        ctx.check_range(value, 0, 1, f"share entering {state}", f"{column}.{state}")
        out[:, states.index(state)] = value
    total = out.sum(axis=1)
    if np.any(np.abs(total - 1) > TOLERANCE):
        raise ctx.fail(f"shares entering the Markov model sum to {float(total[0]):.12g}, not 1", column)
    return out
