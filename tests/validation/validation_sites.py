"""Synthetic validation data for the tests: sites with their own case mix and score distribution."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Site = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]


def make_site(
    rng: np.random.Generator,
    n: int,
    *,
    shift: float = -2.0,
    spread: float = 1.0,
    prevalence: float = 0.1,
    separation: float = 1.5,
    decimals: int | None = None,
) -> Site:
    """n rows: outcome with the given prevalence, score = expit(shift + spread·z + separation·y + noise).

    `decimals` rounds the scores (ties, as from a model that reports two decimals)."""
    y = (rng.random(n) < prevalence).astype(np.int64)
    lp = shift + spread * rng.normal(size=n) + separation * y + 0.3 * rng.normal(size=n)
    score = 1.0 / (1.0 + np.exp(-lp))
    if decimals is not None:
        score = np.round(score, decimals)
    return y, score


def realistic_network(seed: int, n: int = 20_000) -> list[Site]:
    """Three hospitals that differ in prevalence and in how their scores are spread."""
    rng = np.random.default_rng(seed)
    return [
        make_site(rng, n, shift=-2.0, spread=1.0, prevalence=0.12),
        make_site(rng, n, shift=-1.2, spread=1.3, prevalence=0.25, separation=1.2),
        make_site(rng, n, shift=-2.6, spread=0.8, prevalence=0.06, separation=1.9),
    ]


def pooled(sites: list[Site]) -> Site:
    """All sites' rows in one place (the centralised reference)."""
    return np.concatenate([y for y, _ in sites]), np.concatenate([s for _, s in sites])
