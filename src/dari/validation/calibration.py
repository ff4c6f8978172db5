"""Calibration: calibration-in-the-large and slope (with CIs), calibration curve, ECE, Brier and scaled Brier.

* CITL: intercept a of logit P(y=1) = a + logit(p) (slope fixed at 1, lp as offset); 0 when calibrated in the large.
* Calibration slope: b of logit P(y=1) = a + b·logit(p); 1 is ideal, < 1 means predictions too extreme.
  Both are fitted by `dari.validation.logistic` (Newton–Raphson, Wald CIs); Van Calster et al. (2016, J Clin
  Epidemiol 74:167) and Steyerberg (2019, Clinical Prediction Models, ch. 15).
* Calibration curve: bins [eᵢ, eᵢ₊₁) of the score (the last closed at 1); per bin n, events, mean predicted
  and observed event rate. Default: 10 equal-width bins on [0, 1] (the pooled curve always uses equal-width
  bins, which all sites share); `strategy="quantile"` uses score deciles (one site only).
* ECE = Σ_b (n_b/n)·|mean predicted_b − observed_b| over the non-empty bins of that curve (Naeini et al. 2015).
* Brier = (1/n) Σ (p − y)²; scaled Brier = 1 − Brier/(π(1 − π)), π the event rate: 1 − Brier over the
  Brier of the uninformative model that predicts π for everyone (Steyerberg et al. 2010, Epidemiology 21:128).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from dari.validation._common import NAN, Estimate, FloatArray, Result, check_labels_scores, undefined
from dari.validation.logistic import fit_rows


class BrierScore(Result):
    """Brier score and its scaled version (NaN when the event rate is 0 or 1)."""

    brier: float
    scaled: float
    n: int
    events: int


class CalibrationBin(Result):
    """One bin of a calibration curve; `n` None marks a bin suppressed by disclosure control."""

    low: float
    high: float
    n: int | None
    events: int | None
    mean_predicted: float
    observed: float


class CalibrationCurve(Result):
    """The curve's bins and the expected calibration error over them."""

    strategy: Literal["uniform", "quantile"]
    bins: tuple[CalibrationBin, ...]
    ece: float


class CalibrationResult(Result):
    """Calibration-in-the-large, slope, curve and Brier of one set of rows."""

    citl: Estimate
    slope: Estimate
    intercept_with_slope: float = Field(description="a in a + b·lp, reported with the slope")
    curve: CalibrationCurve
    brier: BrierScore


def brier_from_sums(squared_error_sum: float, n: int, events: int) -> BrierScore:
    """Brier and scaled Brier from Σ(p − y)², n and events (what sites add up)."""
    brier = squared_error_sum / n if n else undefined("the Brier score (no rows)")
    prevalence = events / n if n else NAN
    if n and 0 < events < n:
        scaled = 1.0 - brier / (prevalence * (1.0 - prevalence))
    else:
        scaled = undefined("the scaled Brier score (needs both events and non-events)")
    return BrierScore(brier=brier, scaled=scaled, n=n, events=events)


def brier_score(y_true: Any, y_score: Any) -> BrierScore:
    """Brier and scaled Brier from the rows."""
    labels, scores = check_labels_scores(y_true, y_score)
    return brier_from_sums(float(np.sum((scores - labels) ** 2)), labels.size, int(labels.sum()))


def uniform_edges(n_bins: int) -> FloatArray:
    """n_bins + 1 equal-width edges on [0, 1], rounded to 12 decimals so 0.3 is the double a threshold 0.3 is."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    return np.round(np.linspace(0.0, 1.0, n_bins + 1), 12)


def bin_index(scores: FloatArray, edges: FloatArray) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Bin of each score for left-closed bins [eᵢ, eᵢ₊₁), the last bin closed on the right."""
    return np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, edges.size - 2)


def curve_from_sums(
    edges: FloatArray,
    n: np.ndarray[Any, Any],
    events: np.ndarray[Any, Any],
    score_sum: np.ndarray[Any, Any],
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> CalibrationCurve:
    """Calibration curve and ECE from per-bin n, events and Σp (empty bins kept with NaN means)."""
    bins = []
    total = err = 0.0
    for i in range(edges.size - 1):
        k = int(n[i])
        mean_p = float(score_sum[i]) / k if k else NAN
        observed = int(events[i]) / k if k else NAN
        if k:
            total += k
            err += k * abs(mean_p - observed)
        bins.append(
            CalibrationBin(
                low=float(edges[i]),
                high=float(edges[i + 1]),
                n=k,
                events=int(events[i]),
                mean_predicted=mean_p,
                observed=observed,
            )
        )
    ece = err / total if total else undefined("the expected calibration error (no rows)")
    return CalibrationCurve(strategy=strategy, bins=tuple(bins), ece=ece)


def calibration_curve(
    y_true: Any,
    y_score: Any,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
    edges: FloatArray | None = None,
) -> CalibrationCurve:
    """Calibration curve of the rows: equal-width bins, score quantiles, or the `edges` given."""
    labels, scores = check_labels_scores(y_true, y_score)
    if edges is None:
        if strategy == "uniform" or scores.size == 0:
            edges = uniform_edges(n_bins)
        else:
            edges = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, n_bins + 1)))
            if edges.size < 2:
                edges = np.array([edges[0], edges[0]])
    idx = bin_index(scores, edges)
    nb = edges.size - 1
    counts = np.bincount(idx, minlength=nb)
    events = np.bincount(idx, weights=labels, minlength=nb).astype(np.int64)
    sums = np.bincount(idx, weights=scores, minlength=nb)
    return curve_from_sums(edges, counts, events, sums, strategy)


def calibration(
    y_true: Any,
    y_score: Any,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
    confidence: float = 0.95,
) -> CalibrationResult:
    """CITL, slope (Wald CIs), curve, ECE and Brier of the rows."""
    labels, scores = check_labels_scores(y_true, y_score)
    citl_fit = fit_rows(labels, scores, "citl")
    slope_fit = fit_rows(labels, scores, "slope")
    return CalibrationResult(
        citl=citl_fit.intercept_estimate(confidence),
        slope=slope_fit.slope_estimate(confidence),
        intercept_with_slope=slope_fit.intercept,
        curve=calibration_curve(labels, scores, n_bins=n_bins, strategy=strategy),
        brier=brier_score(labels, scores),
    )
