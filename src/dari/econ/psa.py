"""Probabilistic sensitivity analysis: seeded joint draws, one vectorised model run, CEAC, frontier and EVPI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dari.econ.engine import evaluate
from dari.econ.expr import Array
from dari.econ.params import sample
from dari.econ.spec import ModelSpec


@dataclass(frozen=True)
class PsaResult:
    """Per-iteration costs and QALYs (strategies × iterations) and the curves derived from them."""

    strategies: list[str]
    costs: Array
    qalys: Array
    wtp_grid: Array
    ceac: Array  # (strategies, grid): P(strategy has the highest NMB)
    frontier: list[str]  # strategy with the highest expected NMB at each λ (the CEAF)
    evpi: Array  # per person, at each λ
    draws: dict[str, Array] = field(default_factory=dict)  # each primary parameter's PSA draws (for EVPPI)

    def nmb(self, wtp: float) -> Array:
        """Net monetary benefit λ·QALY − cost per strategy and draw."""
        return np.asarray(wtp * self.qalys - self.costs, dtype=float)


def run_psa(
    spec: ModelSpec,
    iterations: int,
    seed: int,
    *,
    wtp_grid: Array | None = None,
    chunk: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> PsaResult:
    """Draw all parameters with numpy.random.default_rng(seed) and evaluate in vectorised chunks."""
    rng = np.random.default_rng(seed)
    values = sample(spec, iterations, rng)  # drawn at once, so chunking never changes the numbers
    names = list(spec.strategies)
    costs = np.empty((len(names), iterations))
    qalys = np.empty((len(names), iterations))
    for start in range(0, iterations, chunk):
        stop = min(start + chunk, iterations)
        part = {k: v[start:stop] for k, v in values.items()}
        results = evaluate(spec, part, where=f"PSA iterations {start + 1}–{stop}")
        for i, s in enumerate(names):
            costs[i, start:stop] = results[s].cost
            qalys[i, start:stop] = results[s].qaly
        if progress is not None:
            progress(stop - start)
    grid = default_grid(spec.model.wtp) if wtp_grid is None else wtp_grid
    ceac, best, evpi = acceptability(costs, qalys, grid)
    primaries = {k: v for k, v in values.items() if v.ndim == 1}
    return PsaResult(names, costs, qalys, grid, ceac, [names[i] for i in best], evpi, primaries)


def default_grid(wtp: float) -> Array:
    """0 … 3λ in 61 steps (λ the model's threshold), so the chosen threshold sits on the grid."""
    return np.linspace(0.0, 3.0 * max(wtp, 1.0), 61)


def acceptability(costs: Array, qalys: Array, grid: Array) -> tuple[Array, Array, Array]:
    """CEAC, expected-NMB-optimal strategy and EVPI at each λ.

    NMB_{s,i}(λ) = λ·Q_{s,i} − C_{s,i}; CEAC_s(λ) = P_i(argmax_s NMB = s);
    EVPI(λ) = E_i[max_s NMB_{s,i}] − max_s E_i[NMB_{s,i}] ≥ 0 (Briggs et al. 2006, ch. 6).
    """
    nmb = grid[:, None, None] * qalys[None] - costs[None]  # (grid, strategies, iterations)
    winners = nmb.argmax(axis=1)  # (grid, iterations)
    k = costs.shape[0]
    ceac = np.stack([(winners == s).mean(axis=1) for s in range(k)])
    expected = nmb.mean(axis=2)
    evpi = nmb.max(axis=1).mean(axis=1) - expected.max(axis=1)
    return ceac, expected.argmax(axis=1), np.maximum(evpi, 0.0)
