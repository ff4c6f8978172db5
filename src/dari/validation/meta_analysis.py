"""Random-effects meta-analysis of per-site estimates (DerSimonian & Laird 1986, Control Clin Trials 7:177).

With site estimates θᵢ (on the analysis scale) and within-site variances vᵢ = SEᵢ²:

    wᵢ = 1/vᵢ,  θ_FE = Σwᵢθᵢ/Σwᵢ,  Q = Σwᵢ(θᵢ − θ_FE)²  (df = k − 1),
    τ² = max(0, (Q − df) / (Σwᵢ − Σwᵢ²/Σwᵢ)),
    wᵢ* = 1/(vᵢ + τ²),  θ_RE = Σwᵢ*θᵢ/Σwᵢ*,  SE = (Σwᵢ*)^−½,  CI = θ_RE ± z·SE,
    I² = max(0, (Q − df)/Q)  (Higgins & Thompson 2002),
    95 % prediction interval = θ_RE ± t_{k−2}·√(τ² + SE²)  (Higgins, Thompson & Spiegelhalter 2009; Riley et al.
    2011, BMJ 342:d549), defined for k ≥ 3.

AUROC is pooled on the logit scale, logit(A) with SE/(A(1 − A)) (delta method), and transformed back, as
Debray et al. (2017, BMJ 356:i6460) recommend; calibration slope and CITL on their own scale. A site whose
estimate or SE is not finite, or whose SE is 0 (an AUROC of 0 or 1), is left out with a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Literal

import numpy as np

from dari.validation._common import NAN, Estimate, Result, UndefinedMetricWarning, dot, expit, undefined, z_quantile

Scale = Literal["identity", "logit"]


class MetaAnalysis(Result):
    """DerSimonian–Laird random-effects summary; estimate, CI and PI on the natural scale, θ and SE on the
    analysis scale; I² as a fraction (0–1)."""

    scale: Scale
    k: int
    sites: tuple[str, ...]
    excluded: tuple[str, ...]
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    theta: float
    se: float
    fixed_effect: float
    tau2: float
    i2: float
    q: float
    q_df: int
    q_pvalue: float


def _back(x: float, scale: Scale) -> float:
    return expit(x) if scale == "logit" and not math.isnan(x) else x


def dersimonian_laird(
    estimates: Mapping[str, float],
    standard_errors: Mapping[str, float],
    *,
    scale: Scale = "identity",
    confidence: float = 0.95,
) -> MetaAnalysis:
    """DL random-effects meta-analysis of estimates already on the analysis scale (`scale` only says how to
    transform the summary back)."""
    from scipy.special import chdtrc, stdtrit  # scipy is slow to import; only meta-analysis needs it

    usable = {
        k: (float(v), float(standard_errors[k]))
        for k, v in estimates.items()
        if math.isfinite(v) and math.isfinite(standard_errors[k]) and standard_errors[k] > 0
    }
    excluded = tuple(k for k in estimates if k not in usable)
    if excluded:
        warnings.warn(
            f"left out of the meta-analysis (estimate or SE undefined or zero): {', '.join(excluded)}",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    k = len(usable)
    if k == 0:
        nan = undefined("the meta-analysis (no site with a usable estimate)")
        empty = dict.fromkeys(("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "theta", "se"), nan)
        return MetaAnalysis(
            scale=scale,
            k=0,
            sites=(),
            excluded=excluded,
            fixed_effect=nan,
            tau2=nan,
            i2=nan,
            q=nan,
            q_df=0,
            q_pvalue=nan,
            **empty,
        )
    theta = np.array([v[0] for v in usable.values()])
    var = np.array([v[1] ** 2 for v in usable.values()])
    w = 1.0 / var
    fixed = dot(w, theta) / float(w.sum())
    q = dot(w, (theta - fixed) ** 2)
    df = k - 1
    c = float(w.sum()) - dot(w, w) / float(w.sum())
    tau2 = max(0.0, (q - df) / c) if df > 0 else 0.0
    w_star = 1.0 / (var + tau2)
    pooled = dot(w_star, theta) / float(w_star.sum())
    se = math.sqrt(1.0 / float(w_star.sum()))
    z = z_quantile(confidence)
    i2 = max(0.0, (q - df) / q) if q > 0 else (0.0 if df > 0 else undefined("I² (one site)"))
    q_p = float(chdtrc(df, q)) if df > 0 else undefined("the heterogeneity test (one site)")
    if k >= 3:
        half = float(stdtrit(k - 2, 0.5 + confidence / 2)) * math.sqrt(tau2 + se * se)
        pi_low, pi_high = pooled - half, pooled + half
    else:
        pi_low = pi_high = undefined("the prediction interval (needs at least 3 sites)")
    return MetaAnalysis(
        scale=scale,
        k=k,
        sites=tuple(usable),
        excluded=excluded,
        estimate=_back(pooled, scale),
        ci_low=_back(pooled - z * se, scale),
        ci_high=_back(pooled + z * se, scale),
        pi_low=_back(pi_low, scale),
        pi_high=_back(pi_high, scale),
        theta=pooled,
        se=se,
        fixed_effect=_back(fixed, scale),
        tau2=tau2,
        i2=i2,
        q=q,
        q_df=df,
        q_pvalue=q_p,
    )


def meta_analyse_auroc(aurocs: Mapping[str, Estimate], *, confidence: float = 0.95) -> MetaAnalysis:
    """Pool site AUROCs on the logit scale: θ = logit(A), SE_θ = SE_A/(A(1 − A))."""
    theta, se = {}, {}
    for site, r in aurocs.items():
        a = r.estimate
        inside = 0 < a < 1
        theta[site] = math.log(a / (1 - a)) if inside else NAN
        se[site] = r.se / (a * (1 - a)) if inside else NAN
    return dersimonian_laird(theta, se, scale="logit", confidence=confidence)


def meta_analyse(estimates: Mapping[str, Estimate], *, confidence: float = 0.95) -> MetaAnalysis:
    """Pool site estimates on their own scale (calibration slope, calibration-in-the-large)."""
    return dersimonian_laird(
        {k: v.estimate for k, v in estimates.items()}, {k: v.se for k, v in estimates.items()}, confidence=confidence
    )
