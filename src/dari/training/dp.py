"""Differential privacy of a federated training job: DP-SGD at each site, its privacy loss from `dp-accounting`.

The unit protected is one patient's record at a site (add/remove one row). Each local gradient step at a site
is the sampled Gaussian mechanism of DP-SGD (Abadi et al., "Deep Learning with Differential Privacy", CCS 2016):
rows are Poisson-sampled with rate q (q = 1: every row), each row's gradient of the logistic loss is clipped to
L2 norm C, the clipped gradients are summed and Gaussian noise N(0, σ²C²·I) is added before dividing by the
expected batch size q·n. The L2 penalty and FedProx's proximal term depend on no record and are added exactly.

A job of R rounds × S local steps composes R·S such mechanisms per site; sites hold disjoint patients, so a
patient's loss is that of their own site (parallel composition). `epsilon_spent` asks `dp_accounting`'s RDP
accountant (Mironov 2017; Mironov, Talwar, Zhang 2019 for the sampled Gaussian) or its PLD accountant for ε at
the job's δ. The noise is drawn at the site from the operating system's entropy: the hub can neither choose nor
predict it, and the site guard applies it before anything leaves (Flower's `LocalDpMod` adds one noise draw
to the whole update for an ε the user states; it has no accountant for a record-level guarantee over rounds).
"""

from __future__ import annotations

from typing import Literal

import dp_accounting  # type: ignore[import-untyped]
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dari.training.logistic import FloatArray, LogisticProblem

Accountant = Literal["rdp", "pld"]
MECHANISM = "DP-SGD at each site: per-record gradient clipping + Gaussian noise (sampled Gaussian mechanism)"


class DpSettings(BaseModel):
    """The DP parameters a training job asks for (signed with the job: the hub's ticket covers them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    clipping_norm: float = Field(default=1.0, gt=0, le=100, description="C: every row's gradient L2 bound")
    noise_multiplier: float = Field(gt=0, le=1000, description="σ: noise std σ·C on each step's gradient sum")
    delta: float = Field(default=1e-5, gt=0, lt=0.01, description="δ of the (ε, δ) guarantee")
    sampling_rate: float = Field(default=1.0, gt=0, le=1, description="q: Poisson sampling rate of rows per step")
    accountant: Accountant = "rdp"


class PrivacyRecord(BaseModel):
    """What the run's record, the model card, the report and the audit log say about the privacy of a training."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mechanism: str = MECHANISM
    unit: str = "one patient's record at one site (add or remove one row)"
    clipping_norm: float
    noise_multiplier: float
    rounds: int
    local_steps: int
    steps: int = Field(description="noisy gradient steps per site: rounds × local steps")
    sampling_rate: float
    epsilon: float
    delta: float
    accountant: str


def dp_event(settings: DpSettings, steps: int) -> dp_accounting.DpEvent:
    """The DP event of `steps` noisy steps: a (Poisson-sampled) Gaussian mechanism, self-composed."""
    step: dp_accounting.DpEvent = dp_accounting.GaussianDpEvent(settings.noise_multiplier)
    if settings.sampling_rate < 1.0:
        step = dp_accounting.PoissonSampledDpEvent(settings.sampling_rate, step)
    return dp_accounting.SelfComposedDpEvent(step, steps)


def epsilon_spent(settings: DpSettings, steps: int) -> float:
    """ε at the settings' δ after `steps` noisy steps, from the settings' accountant (0 for no step)."""
    if steps <= 0:
        return 0.0
    accountant: dp_accounting.PrivacyAccountant
    if settings.accountant == "pld":
        accountant = dp_accounting.pld.PLDAccountant()
    else:
        accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(dp_event(settings, steps))
    return float(accountant.get_epsilon(settings.delta))


def privacy_record(settings: DpSettings, rounds: int, local_steps: int) -> PrivacyRecord:
    """The privacy record of a training of `rounds` rounds of `local_steps` noisy steps at each site."""
    steps = rounds * local_steps
    return PrivacyRecord(
        clipping_norm=settings.clipping_norm,
        noise_multiplier=settings.noise_multiplier,
        rounds=rounds,
        local_steps=local_steps,
        steps=steps,
        sampling_rate=settings.sampling_rate,
        epsilon=epsilon_spent(settings, steps),
        delta=settings.delta,
        accountant=settings.accountant,
    )


def noise_std(settings: DpSettings) -> float:
    """The standard deviation of the noise added to each coordinate of a step's clipped-gradient sum: σ·C."""
    return settings.noise_multiplier * settings.clipping_norm


def clipped_gradient_sum(w: FloatArray, a: FloatArray, y: FloatArray, clipping_norm: float) -> FloatArray:
    """Σᵢ clip(∇ℓᵢ(w), C) over the rows of design matrix `a`: each row's logistic-loss gradient scaled to ≤ C."""
    per_row = (1.0 / (1.0 + np.exp(-(a @ w))) - y)[:, None] * a
    norms = np.linalg.norm(per_row, axis=1)
    factor = np.minimum(1.0, clipping_norm / np.maximum(norms, 1e-300))
    total: FloatArray = (per_row * factor[:, None]).sum(axis=0)
    return total


def dp_local_update(
    w_global: FloatArray,
    z: FloatArray,
    y: FloatArray,
    problem: LogisticProblem,
    settings: DpSettings,
    rng: np.random.Generator | None = None,
) -> FloatArray:
    """A site's new parameters after `local_steps` DP-SGD steps from the global model (FedProx when μ > 0)."""
    rng = rng or np.random.default_rng()  # fresh OS entropy: the hub cannot predict the noise
    a = np.hstack([np.ones((z.shape[0], 1)), z])
    w = np.array(w_global, dtype=np.float64)
    expected_batch = settings.sampling_rate * a.shape[0]
    for _ in range(problem.local_steps):
        rows = rng.random(a.shape[0]) < settings.sampling_rate if settings.sampling_rate < 1.0 else slice(None)
        noisy = clipped_gradient_sum(w, a[rows], y[rows], settings.clipping_norm)
        noisy += rng.normal(0.0, noise_std(settings), size=w.shape)
        grad = noisy / expected_batch
        grad[1:] += problem.l2 * w[1:]
        if problem.proximal_mu > 0:
            grad += problem.proximal_mu * (w - w_global)
        w -= problem.learning_rate * grad
    return w
