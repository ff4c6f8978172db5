"""Logistic recalibration fitted by Newton–Raphson on summed score vectors and information matrices.

Calibration slope and intercept come from the logistic regression of the outcome on the model's linear
predictor lp = logit(p) (Cox 1958):

    slope mode:  logit P(y = 1) = a + b·lp       (b is the calibration slope, a the intercept given b)
    citl mode:   logit P(y = 1) = a + 1·lp       (lp as an offset; a is calibration-in-the-large)

Newton–Raphson needs only sums over rows: with μ = expit(a + b·lp) and x = (1, lp),

    score U = Σ (y − μ)·x,   information I = Σ μ(1 − μ)·x xᵀ,   (a, b) ← (a, b) + I⁻¹U.

Sums over sites are sums over the pooled rows, so a hub that sends (a, b) to every site and adds the returned
U and I follows exactly the iterations of the centralised fit: the federated estimate equals the pooled-row
estimate to the convergence tolerance (1e-10 on the step). The same loop fits one site's own rows, so the
per-site, the federated and the centralised calibration share this code. SEs are Wald, √diag(I⁻¹) at the
estimate — what `statsmodels` GLM(Binomial) reports.

Each round a site returns only n, events, the 2-vector U, the three distinct entries of I and the
log-likelihood (used for step-halving): aggregates over all its rows, released only when rows, events and
non-events each reach the minimum cell size.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Generator, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dari.disclosure import DisclosureRules, require_min_cell
from dari.validation._common import (
    NAN,
    BoolArray,
    Estimate,
    FloatArray,
    Result,
    UndefinedMetricWarning,
    check_labels_scores,
    dot,
    logit,
    wald,
)

OffsetMode = Literal["slope", "citl"]

#: A recalibration intercept or slope beyond ±100 means separation, not calibration; the hub stops there, and a
#: site refuses parameters outside the box (they would only serve to probe its score distribution).
PARAM_LIMIT = 100.0
#: The largest change of intercept or slope (logit units) one Newton step makes (a damped Newton: a longer step is
#: scaled down to it). The MLE is the same; only the path is shorter-legged. Sites refuse calibration rounds that
#: jump more than `dari.federation.flower.calibration.MAX_STEP` (5.0), and an undamped first step from (0, 1) for a
#: sharply separating model (a site that trained it: AUROC 0.99) reached beyond that: every such site was refused.
MAX_NEWTON_STEP = 4.0


class LogisticParams(BaseModel):
    """What the hub sends each round: the current (intercept, slope); in citl mode the slope is fixed at 1."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    intercept: float = Field(ge=-PARAM_LIMIT, le=PARAM_LIMIT)
    slope: float = Field(ge=-PARAM_LIMIT, le=PARAM_LIMIT)


class LogisticStepStats(BaseModel):
    """What a site returns for one Newton round: sums over its rows at the parameters it was sent."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    offset_mode: OffsetMode
    params: LogisticParams
    n: int = Field(ge=0, strict=True)
    events: int = Field(ge=0, strict=True)
    score: tuple[float, float] = Field(description="U = Σ (y − μ)·(1, lp)")
    information: tuple[float, float, float] = Field(description="Σ μ(1−μ)·(1, lp, lp²): I_aa, I_ab, I_bb")
    log_likelihood: float = Field(le=0)

    @model_validator(mode="after")
    def _consistent(self) -> LogisticStepStats:
        if self.events > self.n:
            raise ValueError("events cannot exceed n")
        i_aa, i_ab, i_bb = self.information
        if i_aa < 0 or i_bb < 0 or i_ab * i_ab > i_aa * i_bb * (1 + 1e-9) + 1e-12:
            raise ValueError("information must be a positive semi-definite matrix")
        if self.offset_mode == "citl" and self.params.slope != 1.0:
            raise ValueError("citl mode fixes the slope at 1")
        return self


#: One Newton round: the parameters sent to every site → the sums they return.
Query = Callable[[LogisticParams], Sequence["LogisticStepStats"]]


class LogisticFit(Result):
    """A converged (or failed: NaN, `converged` False) Newton fit; covariance = I⁻¹ at the estimate."""

    offset_mode: OffsetMode
    intercept: float
    slope: float
    covariance: tuple[float, float, float] = Field(description="var(a), cov(a, b), var(b); b terms 0 in citl mode")
    converged: bool
    iterations: int
    n: int
    events: int
    log_likelihood: float

    def intercept_estimate(self, confidence: float = 0.95) -> Estimate:
        """Intercept (calibration-in-the-large in citl mode) with its Wald CI."""
        return wald(self.intercept, math.sqrt(self.covariance[0]), confidence)

    def slope_estimate(self, confidence: float = 0.95) -> Estimate:
        """Calibration slope with its Wald CI (slope mode)."""
        return wald(self.slope, math.sqrt(self.covariance[2]), confidence)


def logistic_step_sums(
    labels: BoolArray, lp: FloatArray, params: LogisticParams, mode: OffsetMode
) -> LogisticStepStats:
    """U, I and the log-likelihood over these rows at `params` (no disclosure check: the pure computation)."""
    slope = 1.0 if mode == "citl" else params.slope
    eta = params.intercept + slope * lp
    e = np.exp(-np.abs(eta))  # one exp and one log1p per row: μ, μ(1 − μ) and log(1 + e^η) follow
    log1pe = np.log1p(e)
    inv = 1.0 / (1.0 + e)
    mu = np.where(eta >= 0, inv, e * inv)
    w = e * inv * inv
    resid: FloatArray = labels - mu
    wlp = w * lp
    softplus = np.maximum(eta, 0.0) + log1pe  # log(1 + e^η); log-likelihood = Σ y·η − log(1 + e^η)
    return LogisticStepStats(
        offset_mode=mode,
        params=params,
        n=int(labels.size),
        events=int(labels.sum()),
        score=(float(resid.sum()), dot(resid, lp)),
        information=(float(w.sum()), float(wlp.sum()), dot(wlp, lp)),
        log_likelihood=min(0.0, dot(labels, eta) - float(softplus.sum())),
    )


def site_logistic_step(
    y_true: Any, y_score: Any, params: LogisticParams, offset_mode: OffsetMode, rules: DisclosureRules | None = None
) -> LogisticStepStats:
    """Site side of one Newton round: refuses below the minimum cell size, otherwise returns the sums."""
    labels, scores = check_labels_scores(y_true, y_score)
    events = int(labels.sum())
    require_min_cell(labels.size, "rows", rules)
    require_min_cell(events, "events", rules)
    require_min_cell(labels.size - events, "non-events", rules)
    return logistic_step_sums(labels, logit(scores), params, offset_mode)


def _failed(mode: OffsetMode, n: int, events: int, iterations: int, why: str) -> LogisticFit:
    warnings.warn(f"logistic {mode} fit: {why}; returning NaN", UndefinedMetricWarning, stacklevel=3)
    return LogisticFit(
        offset_mode=mode,
        intercept=NAN,
        slope=NAN,
        covariance=(NAN, NAN, NAN),
        converged=False,
        iterations=iterations,
        n=n,
        events=events,
        log_likelihood=NAN,
    )


def total_step_stats(stats: Sequence[LogisticStepStats], params: LogisticParams, mode: OffsetMode) -> LogisticStepStats:
    """The sites' sums at one round's parameters added up (`math.fsum`: the order of the sites does not matter)."""
    for s in stats:
        if s.params != params or s.offset_mode != mode:
            raise ValueError("a site answered a different round (parameters or mode do not match the query)")
    return LogisticStepStats(
        offset_mode=mode,
        params=params,
        n=sum(s.n for s in stats),
        events=sum(s.events for s in stats),
        score=(math.fsum(s.score[0] for s in stats), math.fsum(s.score[1] for s in stats)),
        information=(
            math.fsum(s.information[0] for s in stats),
            math.fsum(s.information[1] for s in stats),
            math.fsum(s.information[2] for s in stats),
        ),
        log_likelihood=math.fsum(s.log_likelihood for s in stats),
    )


def _newton_step(t: LogisticStepStats, mode: OffsetMode) -> tuple[float, float] | None:
    i_aa, i_ab, i_bb = t.information
    if mode == "citl":
        return (t.score[0] / i_aa, 0.0) if i_aa > 0 else None
    det = i_aa * i_bb - i_ab * i_ab
    if not det > 1e-12 * max(i_aa * i_bb, 1e-300):
        return None
    return ((i_bb * t.score[0] - i_ab * t.score[1]) / det, (i_aa * t.score[1] - i_ab * t.score[0]) / det)


def _covariance(t: LogisticStepStats, mode: OffsetMode) -> tuple[float, float, float]:
    i_aa, i_ab, i_bb = t.information
    if mode == "citl":
        return (1.0 / i_aa, 0.0, 0.0)
    det = i_aa * i_bb - i_ab * i_ab
    return (i_bb / det, -i_ab / det, i_aa / det)


def newton_fit(
    offset_mode: OffsetMode,
    *,
    start: LogisticParams | None = None,
    tol: float = 1e-10,
    max_iter: int = 50,
) -> Generator[LogisticParams, Sequence[LogisticStepStats], LogisticFit]:
    """Hub side, one round at a time: yields the parameters to send, receives the sites' sums, returns the fit.

    Newton–Raphson with step-halving from `start` (default (0, 1)); stops when the largest parameter step is below
    `tol`. One class only, a singular information matrix or parameters leaving ±PARAM_LIMIT (separation) warn and
    give a NaN fit. As a generator, several fits can share rounds (the hub sends their queries in one message).
    """
    current = start or LogisticParams(intercept=0.0, slope=1.0)
    if offset_mode == "citl" and current.slope != 1.0:
        current = LogisticParams(intercept=current.intercept, slope=1.0)
    total = total_step_stats((yield current), current, offset_mode)
    if total.events in (0, total.n):
        return _failed(offset_mode, total.n, total.events, 1, "needs both events and non-events")
    for iteration in range(1, max_iter + 1):
        step = _newton_step(total, offset_mode)
        if step is None:
            return _failed(offset_mode, total.n, total.events, iteration, "singular information matrix")
        longest = max(abs(step[0]), abs(step[1]))
        if longest > MAX_NEWTON_STEP:
            step = (step[0] * MAX_NEWTON_STEP / longest, step[1] * MAX_NEWTON_STEP / longest)
        if max(abs(step[0]), abs(step[1])) < tol:
            return LogisticFit(
                offset_mode=offset_mode,
                intercept=current.intercept + step[0],
                slope=current.slope + step[1],
                covariance=_covariance(total, offset_mode),
                converged=True,
                iterations=iteration,
                n=total.n,
                events=total.events,
                log_likelihood=total.log_likelihood,
            )
        for _ in range(40):  # step-halving keeps the log-likelihood from falling
            a, b = current.intercept + step[0], current.slope + step[1]
            if max(abs(a), abs(b)) > PARAM_LIMIT:
                return _failed(offset_mode, total.n, total.events, iteration, "diverges (separation)")
            candidate = LogisticParams(intercept=a, slope=b)
            trial = total_step_stats((yield candidate), candidate, offset_mode)
            if trial.log_likelihood >= total.log_likelihood - 1e-12 * (1 + abs(total.log_likelihood)):
                break
            step = (step[0] / 2, step[1] / 2)
        current, total = candidate, trial
    return _failed(offset_mode, total.n, total.events, max_iter, f"did not converge in {max_iter} rounds")


def drive(fit: Generator[LogisticParams, Sequence[LogisticStepStats], LogisticFit], query: Query) -> LogisticFit:
    """Run one `newton_fit` to the end, answering each round with `query(params)`."""
    params = next(fit)
    while True:
        try:
            params = fit.send(query(params))
        except StopIteration as done:
            result: LogisticFit = done.value
            return result


def fit_pooled_logistic(
    query_sites: Query,
    offset_mode: OffsetMode,
    *,
    start: LogisticParams | None = None,
    tol: float = 1e-10,
    max_iter: int = 50,
) -> LogisticFit:
    """Hub side: Newton–Raphson with step-halving, one `query_sites(params)` call per round (see `newton_fit`)."""
    return drive(newton_fit(offset_mode, start=start, tol=tol, max_iter=max_iter), query_sites)


def fit_rows(y_true: Any, y_score: Any, offset_mode: OffsetMode) -> LogisticFit:
    """The same fit on rows held in one place (a site's own rows, or the centralised reference)."""
    labels, scores = check_labels_scores(y_true, y_score)
    lp = logit(scores)
    return fit_pooled_logistic(lambda p: [logistic_step_sums(labels, lp, p, offset_mode)], offset_mode)
