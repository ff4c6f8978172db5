"""PSA distributions: method-of-moments fitting, vectorised sampling with a seeded Generator, and quantiles."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from dari.econ.expr import Array
from dari.econ.spec import Distribution


def beta_from_mean_se(mean: float, se: float) -> tuple[float, float]:
    """Beta(α, β) with the given mean and SE: α = m·k, β = (1−m)·k, k = m(1−m)/se² − 1 (Briggs et al. 2006, §4.3)."""
    if not 0 < mean < 1:
        raise ValueError(f"a beta mean must lie strictly between 0 and 1, not {mean}")
    if se <= 0:
        raise ValueError("a beta SE must be positive")
    k = mean * (1 - mean) / se**2 - 1
    if k <= 0:
        raise ValueError(f"SE {se} is too large for a beta with mean {mean} (needs se² < m(1−m))")
    return mean * k, (1 - mean) * k


def beta_from_ci(mean: float, low: float, high: float, z: float = 1.959964) -> tuple[float, float]:
    """Beta from a point estimate and its 95 % CI: se = (high − low) / (2·1.96), then method of moments."""
    return beta_from_mean_se(mean, (high - low) / (2 * z))


def gamma_from_mean_se(mean: float, se: float) -> tuple[float, float]:
    """Gamma(shape k, scale θ) with k = m²/se², θ = se²/m (Briggs et al. 2006, §4.3)."""
    if mean <= 0 or se <= 0:
        raise ValueError(f"a gamma needs a positive mean and SE, not {mean} and {se}")
    return mean**2 / se**2, se**2 / mean


def lognormal_from_mean_se(mean: float, se: float) -> tuple[float, float]:
    """Lognormal(μ, σ) on the log scale with the given arithmetic mean and SE: σ² = ln(1 + se²/m²), μ = ln m − σ²/2."""
    if mean <= 0:
        raise ValueError(f"a lognormal needs a positive mean, not {mean}")
    sigma2 = math.log1p(se**2 / mean**2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def natural(dist: Distribution) -> tuple[float, float]:
    """The distribution's natural parameters, fitted from mean and SE where it was given that way."""
    spread = dist.se if dist.se is not None else dist.sd
    if dist.type == "beta":
        if dist.alpha is not None and dist.beta is not None:
            return dist.alpha, dist.beta
        assert dist.mean is not None and spread is not None
        return beta_from_mean_se(dist.mean, spread)
    if dist.type == "gamma":
        if dist.shape is not None and dist.scale is not None:
            return dist.shape, dist.scale
        assert dist.mean is not None and spread is not None
        return gamma_from_mean_se(dist.mean, spread)
    if dist.type == "lognormal":
        if dist.meanlog is not None and dist.sdlog is not None:
            return dist.meanlog, dist.sdlog
        assert dist.mean is not None and spread is not None
        return lognormal_from_mean_se(dist.mean, spread)
    if dist.type == "normal":
        assert dist.mean is not None and spread is not None
        return dist.mean, spread
    return 0.0, 0.0


def draw(dist: Distribution | None, value: float, n: int, rng: np.random.Generator) -> Array:
    """n draws; a fixed (or absent) distribution, or one with zero spread, gives the base value n times."""
    if dist is None or dist.type == "fixed":
        return np.full(n, value)
    p1, p2 = natural(dist)
    if dist.type == "beta":
        return rng.beta(p1, p2, n)
    if dist.type == "gamma":
        return rng.gamma(p1, p2, n)
    if dist.type == "lognormal":
        return np.exp(rng.normal(p1, p2, n))
    return rng.normal(p1, p2, n)


def quantile(dist: Distribution | None, value: float, q: float) -> float:
    """The q-quantile (e.g. 0.025 and 0.975 for one-way sensitivity bounds)."""
    if dist is None or dist.type == "fixed":
        return value
    p1, p2 = natural(dist)
    if dist.type == "beta":
        return float(stats.beta.ppf(q, p1, p2))
    if dist.type == "gamma":
        return float(stats.gamma.ppf(q, p1, scale=p2))
    if dist.type == "lognormal":
        return float(math.exp(stats.norm.ppf(q, p1, p2)))
    return float(stats.norm.ppf(q, p1, p2))


def dirichlet(counts: Array, n: int, rng: np.random.Generator) -> Array:
    """n Dirichlet(counts) rows, shape (n, k), each summing to one (Briggs et al. 2006, §4.3.3)."""
    return rng.dirichlet(counts, n)


def cholesky_factor(covariance: Array) -> Array:
    """Lower-triangular L with L·Lᵀ = Σ; Σ must be symmetric and positive definite."""
    cov = np.asarray(covariance, dtype=float)
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-14):
        raise ValueError("the covariance matrix is not symmetric")
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError("the covariance matrix is not positive definite (no Cholesky factor)") from None


def multivariate_normal(mean: Array, factor: Array, n: int, rng: np.random.Generator) -> Array:
    """n draws of N(μ, LLᵀ), shape (n, k): x = μ + L·z with z standard normal (Briggs et al. 2006, §4.4.1).

    The product is summed term by term so that each draw depends on its own z only (bit-identical in any chunking).
    """
    z = rng.standard_normal((n, len(mean)))
    out = np.tile(np.asarray(mean, dtype=float), (n, 1))
    for j in range(len(mean)):
        out += z[:, j : j + 1] * factor[None, :, j]
    return out
