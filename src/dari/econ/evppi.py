"""EVPPI for groups of parameters by non-parametric regression on the PSA sample (Strong, Oakley & Brennan 2014).

For each strategy d the incremental net benefit INB_d = NMB_d − NMB_0 of the PSA draws is regressed on the group's
parameters φ; the fitted values ĝ_d(φ) estimate E[INB_d | φ]. Then

    EVPPI(φ) = E_φ[max_d ĝ_d(φ)] − max_d E_φ[ĝ_d(φ)]      (ĝ_0 ≡ 0),

the expected value of learning φ exactly. The regression is ordinary least squares on a polynomial basis of the
standardised parameters (degree 3 per parameter, with pairwise products of the linear terms) — an additive
approximation of the GAM that Strong et al. and SAVI use for groups of up to a few parameters. Estimates carry
Monte-Carlo and regression error, and are clipped at zero and at the EVPI.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from dari.econ.expr import Array


def basis(inputs: Array, degree: int = 3) -> Array:
    """Design matrix: intercept, x, x², …, x^degree per standardised column, and pairwise products x_i·x_j."""
    x = np.asarray(inputs, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    spread = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    cols = [np.ones(len(z))]
    for j in range(z.shape[1]):
        if spread[j] > 0:
            cols.extend(z[:, j] ** d for d in range(1, degree + 1))
    for i, j in combinations(range(z.shape[1]), 2):
        if spread[i] > 0 and spread[j] > 0:
            cols.append(z[:, i] * z[:, j])
    return np.column_stack(cols)


def evppi(nmb: Array, inputs: Array, *, degree: int = 3) -> float:
    """EVPPI per person of the parameters `inputs` (draws × parameters) given NMB (strategies × draws)."""
    nmb = np.asarray(nmb, dtype=float)
    k, n = nmb.shape
    if k < 2:
        return 0.0
    design = basis(inputs, degree)
    if design.shape[1] >= n:
        raise ValueError(f"too few PSA iterations ({n}) for a regression on {design.shape[1]} terms")
    fitted = np.zeros((k, n))
    for d in range(1, k):
        coef, *_ = np.linalg.lstsq(design, nmb[d] - nmb[0], rcond=None)
        fitted[d] = design @ coef
    value = float(fitted.max(axis=0).mean() - fitted.mean(axis=1).max())
    best = nmb.mean(axis=1).max()
    evpi = float(nmb.max(axis=0).mean() - best)
    return min(max(value, 0.0), max(evpi, 0.0))
