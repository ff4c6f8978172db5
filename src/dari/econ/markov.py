"""Markov cohort engine, vectorised over iterations: transition tensors, the trace and within-cycle counting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dari.econ.expr import Array
from dari.econ.spec import Counting


@dataclass(frozen=True)
class Weights:
    """Weight of each trace point k = 0..N: `a` counted with cycle k+1's values, `b` with cycle k's."""

    a: Array
    b: Array

    @property
    def total(self) -> Array:
        """a + b: the point's whole weight."""
        return self.a + self.b


def counting_weights(convention: Counting, cycles: int) -> Weights:
    """Within-cycle correction as weights over trace points 0..N.

    beginning: Σ_{k<N} x_k; end: Σ_{k≥1} x_k; half-cycle: ½x_0 + x_1 + … + ½x_N (trapezoid);
    Simpson's 1/3: (x_0 + 4x_1 + 2x_2 + … + 4x_{N−1} + x_N)/3, N even (Elbasha & Chhatwal, MDM 2016).
    """
    n = cycles
    a = np.zeros(n + 1)
    b = np.zeros(n + 1)
    if convention == "beginning":
        a[:n] = 1.0
    elif convention == "end":
        b[1:] = 1.0
    elif convention == "half-cycle":
        a[:n] = 0.5
        b[1:] = 0.5
    else:
        if n % 2:
            raise ValueError(f"Simpson's 1/3 rule needs an even number of cycles, not {n}")
        w = np.where(np.arange(n + 1) % 2 == 1, 4.0, 2.0) / 3
        w[0] = w[n] = 1 / 3
        # interior points sit between two cycles: half their weight is valued with each
        a[:n] = w[:n] / 2
        b[1:] = w[1:] / 2
        a[0] = w[0]
        b[n] = w[n]
    return Weights(a, b)


def discount_factors(rate: float, cycles: int, cycle_length: float) -> Array:
    """1 / (1 + r)^(k·Δt) for trace points k = 0..N (time in years)."""
    return np.asarray((1.0 + rate) ** -(np.arange(cycles + 1) * cycle_length), dtype=float)


def cycle_index(t: NDArray[np.int_] | int, depth: int) -> NDArray[np.intp]:
    """Row of a cycle-indexed array (depth rows) used for cycle t ≥ 1; past the end the last row repeats."""
    return np.clip(np.asarray(t, dtype=np.intp) - 1, 0, depth - 1)


def ordered_sum(a: Array) -> Array:
    """Σ over the first axis, added strictly in order: each iteration's total then depends on its own values only,
    never on how many iterations share the call (NumPy's pairwise and BLAS reductions change with the shape, so
    PSA results would change at rounding level with the chunk size)."""
    if len(a) == 1:
        return np.array(a[0], dtype=float)
    out: Array = np.add(a[0], a[1], dtype=float)
    for part in a[2:]:
        out += part
    return out


def run_trace(initial: Array, matrices: Array, cycles: int) -> Array:
    """State membership x_k, k = 0..N, shape (N+1, n, S): x_k = x_{k−1} · P_{cycle k}; matrices is (T, S, S, n).

    Computed with the iterations on the last (contiguous) axis, each product and sum a separate elementwise step in
    state order: fast, and each iteration's trace independent of the others (bit-identical in any chunking).
    """
    depth, n, states = matrices.shape[0], initial.shape[0], initial.shape[-1]
    p_t = matrices
    trace = np.empty((cycles + 1, states, n))
    trace[0] = initial.T
    term = np.empty(n)
    # structurally zero transitions (never non-zero in any cycle or iteration) are skipped; the order stays fixed
    sources = [[s for s in range(states) if p_t[:, s, j].any()] for j in range(states)]
    for k in range(1, cycles + 1):
        p = p_t[int(cycle_index(k, depth))]
        x, row = trace[k - 1], trace[k]
        for j, into in enumerate(sources):
            if not into:
                row[j] = 0.0
                continue
            np.multiply(x[into[0]], p[into[0], j], out=row[j])
            for s in into[1:]:
                np.multiply(x[s], p[s, j], out=term)
                row[j] += term
    return np.ascontiguousarray(np.moveaxis(trace, 1, 2))


def point_values(values: Array, weights: Weights) -> Array:
    """Per-point weighted state values, shape (N+1, n, S), from cycle-indexed values (T, n, S)."""
    depth = values.shape[0]
    if depth == 1:  # time-homogeneous: both halves use the same values
        return np.asarray(weights.total[:, None, None] * values[0][None], dtype=float)
    k = np.arange(len(weights.a), dtype=np.intp)
    return np.asarray(
        weights.a[:, None, None] * values[cycle_index(k + 1, depth)]
        + weights.b[:, None, None] * values[cycle_index(k, depth)],
        dtype=float,
    )


def accumulate(trace: Array, values: Array, weights: Weights, discount: Array) -> Array:
    """Σ_k d_k Σ_s x_k,s · v_k,s per iteration: the (discounted) total of a state reward."""
    per_point = ordered_sum(np.moveaxis(trace * point_values(values, weights), 2, 0))  # (K, n): Σ over states
    return ordered_sum(discount[:, None] * per_point)


def per_cycle(trace: Array, values: Array, weights: Weights) -> Array:
    """Undiscounted reward attributed to each cycle t = 1..N, shape (N, n) (for budget impact)."""
    depth = values.shape[0]
    k = np.arange(trace.shape[0], dtype=np.intp)
    v_next = values[cycle_index(k + 1, depth)]
    v_this = values[cycle_index(k, depth)]
    begin = ordered_sum(np.moveaxis(trace * (weights.a[:, None, None] * v_next), 2, 0))
    end = ordered_sum(np.moveaxis(trace * (weights.b[:, None, None] * v_this), 2, 0))
    return np.asarray(begin[:-1] + end[1:], dtype=float)


def user_weights(w: Array) -> Weights:
    """Weights given by the user for points 0..N (e.g. a tutorial's own Simpson weights): point 0 is valued with
    cycle 1, point N with cycle N, and an interior point half with each cycle it joins."""
    n = len(w) - 1
    a = np.zeros(n + 1)
    b = np.zeros(n + 1)
    a[:n] = w[:n] / 2
    b[1:] = w[1:] / 2
    a[0] = w[0]
    b[n] = w[n]
    return Weights(a, b)
