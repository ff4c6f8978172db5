"""Shared pieces of the validation statistics: input checks, the undefined-metric warning, logit, normal quantiles."""

from __future__ import annotations

import math
import warnings
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from dari.errors import InputError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Scores are clipped to [EPS, 1 − EPS] before the logit, so a model that outputs exactly 0 or 1 gives a finite
#: linear predictor (±27.6); declared here so the site, the hub and the centralised reference clip alike.
LOGIT_EPS = 1e-12

NAN = float("nan")


class UndefinedMetricWarning(UserWarning):
    """A statistic is undefined for this data (one class only, no events…); it was returned as NaN."""


class Result(BaseModel):
    """Base of the computed results: frozen, no unknown fields, NaN written to JSON as NaN (it round-trips)."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


class Estimate(Result):
    """A point estimate with its standard error and two-sided confidence interval (NaN where undefined)."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float


def undefined(what: str) -> float:
    """Warn that `what` is undefined and return NaN (scikit-learn's habit: a small site never crashes a job)."""
    warnings.warn(f"{what} is undefined for this data; returning NaN", UndefinedMetricWarning, stacklevel=3)
    return NAN


def dot(a: Any, b: Any) -> float:
    """Σ aᵢbᵢ without BLAS: a multi-threaded BLAS dot was 300× slower than this on a busy 2-core machine."""
    return float(np.einsum("i,i->", np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))


def z_quantile(confidence: float) -> float:
    """Two-sided normal quantile: 1.959964 for 0.95."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wald(estimate: float, se: float, confidence: float) -> Estimate:
    """Estimate ± z·SE."""
    z = z_quantile(confidence)
    return Estimate(estimate=estimate, se=se, ci_low=estimate - z * se, ci_high=estimate + z * se)


def logit(p: Any) -> FloatArray:
    """log(p / (1 − p)) after clipping p to [LOGIT_EPS, 1 − LOGIT_EPS]."""
    q = np.clip(np.asarray(p, dtype=np.float64), LOGIT_EPS, 1 - LOGIT_EPS)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


def expit(x: float) -> float:
    """1 / (1 + e^−x), overflow-safe."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def check_labels_scores(y_true: Any, y_score: Any) -> tuple[BoolArray, FloatArray]:
    """Validate and convert: y_true 1-D of 0/1 (or bool), y_score 1-D finite probabilities in [0, 1], same length.

    Bad input is a caller's error (`InputError`); an empty array or a single class is not — the statistics that
    need both classes warn and return NaN.
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64) if np.asarray(y_score).dtype != object else None
    if s is None:
        raise InputError("y_score must be numeric", column="y_score")
    if y.ndim != 1 or s.ndim != 1:
        raise InputError(f"y_true and y_score must be 1-D, got shapes {y.shape} and {s.shape}", column="y_true")
    if y.shape != s.shape:
        raise InputError(f"y_true and y_score must have the same length, got {y.size} and {s.size}", column="y_true")
    if y.dtype == np.bool_:
        labels = y
    else:
        if y.dtype.kind not in "iuf" or not np.all((y == 0) | (y == 1)):
            raise InputError("y_true must hold only 0 and 1", column="y_true")
        labels = y == 1
    if not np.all(np.isfinite(s)) or np.any((s < 0) | (s > 1)):
        raise InputError("y_score must be finite probabilities in [0, 1]", column="y_score")
    return labels, s
