"""Pooled validation metrics from site-level sufficient statistics, and the centralised reference on pooled rows.

What a site releases (`SiteSufficientStatistics`, one record per job, plus one `LogisticStepStats` per Newton
round of `dari.validation.logistic`):

* n, events and Σ(p − y)² — the pooled n, events and Brier are exact sums;
* U, its Mann–Whitney statistic (concordant positive–negative pairs within the site, ties ½), exact;
* the protected two-class score histogram of `dari.validation.histogram` (no bin with fewer than `min_cell`
  positives or negatives).

The hub then computes, with P and N the pooled positives and negatives,

    AUROC = (Σₛ Uₛ + Σₛ≠ₜ Ĉ(positives of s, negatives of t)) / (P·N),

Ĉ the concordant cross-site pairs expected under the within-bin model; calibration slope and CITL by the
federated Newton–Raphson (equal to the pooled-row fit within the convergence tolerance); the 2×2 table, net
benefit and calibration curve from the histograms — exact wherever every site kept the anchor as an edge,
interpolated (and flagged) where a small cell made a site merge across it. The AUROC CI is Hanley & McNeil's
(1982, Radiology 143:29) on the logit scale: DeLong's needs every row's placement among all sites' rows.

`centralised_pooled_metrics` computes the same record from the pooled rows (DeLong CI), sharing the metric code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dari.disclosure import DisclosureRefusedError, DisclosureRules, require_min_cell
from dari.errors import InputError
from dari.validation._common import Estimate, FloatArray, Result, check_labels_scores
from dari.validation.calibration import (
    BrierScore,
    CalibrationCurve,
    bin_index,
    brier_from_sums,
    calibration_curve,
    curve_from_sums,
    uniform_edges,
)
from dari.validation.decision_curve import DecisionCurve, curve_from_counts, decision_curve
from dari.validation.discrimination import auroc, logit_ci, mann_whitney_u
from dari.validation.evaluate import ValidationSpec
from dari.validation.histogram import ClassIntervals, ScoreHistogram, build_histogram, concordant_pairs, has_edge
from dari.validation.ledger_cells import person_ids_of, record_histogram, record_rows
from dari.validation.logistic import LogisticFit, LogisticParams, fit_pooled_logistic, fit_rows, site_logistic_step
from dari.validation.thresholds import ThresholdMetrics, confusion_counts, counts_from_totals, threshold_metrics

if TYPE_CHECKING:
    from dari.federation.ledger import ReleaseLedger


class SiteSufficientStatistics(BaseModel):
    """Everything one site releases for the pooled metrics (besides the Newton rounds); validates itself."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    n: int = Field(ge=0, strict=True)
    events: int = Field(ge=0, strict=True)
    squared_error_sum: float = Field(ge=0, description="Σ (p − y)²")
    concordant_pairs: float = Field(ge=0, description="within-site Mann–Whitney U, ties counted ½")
    histogram: ScoreHistogram
    min_cell: int = Field(ge=1, strict=True, description="the site's minimum cell size when it released this")

    @model_validator(mode="after")
    def _consistent(self) -> SiteSufficientStatistics:
        if self.events > self.n:
            raise ValueError("events cannot exceed n")
        if self.squared_error_sum > self.n:
            raise ValueError("Σ(p − y)² cannot exceed n")
        pairs = self.events * (self.n - self.events)
        if self.concordant_pairs > pairs or abs(2 * self.concordant_pairs - round(2 * self.concordant_pairs)) > 1e-6:
            raise ValueError("concordant pairs must be a multiple of ½ no larger than events × non-events")
        if self.histogram.totals() != (self.events, self.n - self.events):
            raise ValueError("the histogram must hold exactly the site's events and non-events")
        return self

    def check_disclosure(self, rules: DisclosureRules | None = None) -> None:
        """Raise `DisclosureRefusedError` if any released count is below the minimum cell size."""
        require_min_cell(self.events, "events", rules)
        require_min_cell(self.n - self.events, "non-events", rules)
        r = rules or DisclosureRules()
        if self.histogram.smallest_cell() < r.min_cell:
            raise DisclosureRefusedError(f"a histogram bin holds fewer than {r.min_cell} positives or negatives")


class PooledMetrics(Result):
    """Pooled validation metrics: from site statistics (federated) or from pooled rows (centralised)."""

    method: Literal["federated", "centralised"]
    sites: int
    n: int
    events: int
    brier: BrierScore
    auroc: Estimate
    auroc_ci_method: Literal["hanley-mcneil", "delong"]
    citl: Estimate
    calibration_slope: Estimate
    threshold: ThresholdMetrics
    threshold_exact: bool = Field(description="False: a site's histogram had no edge at the threshold")
    calibration_curve: CalibrationCurve
    decision_curve: DecisionCurve


def site_sufficient_statistics(
    y_true: Any,
    y_score: Any,
    spec: ValidationSpec | None = None,
    rules: DisclosureRules | None = None,
    *,
    ledger: ReleaseLedger | None = None,
    person_ids: Any = None,
) -> SiteSufficientStatistics:
    """Site side: the record for the pooled metrics, refused below min_cell rows, events or non-events.

    Its n, events and Σ(p − y)² are exact (the pooled figures need them): with a `ledger` (federated jobs) the
    rows, both classes and every histogram bin are recorded by their persons (`person_ids`, one per row) and the
    record is refused when one of them differs from an earlier release by a few persons.
    """
    sp, r = spec or ValidationSpec(), rules or DisclosureRules()
    labels, scores = check_labels_scores(y_true, y_score)
    if sp.score_decimals is not None:
        scaled = scores * 10.0**sp.score_decimals
        if np.any(np.abs(scaled - np.rint(scaled)) > 1e-6):
            raise InputError(f"y_score must be multiples of 1e-{sp.score_decimals} as declared", column="y_score")
    events = int(labels.sum())
    require_min_cell(events, "events", r)
    require_min_cell(labels.size - events, "non-events", r)
    stats = SiteSufficientStatistics(
        n=int(labels.size),
        events=events,
        squared_error_sum=min(float(np.sum((scores - labels) ** 2)), float(labels.size)),
        concordant_pairs=mann_whitney_u(labels, scores),
        histogram=build_histogram(labels, scores, sp, r.min_cell),
        min_cell=r.min_cell,
    )
    stats.check_disclosure(r)
    if ledger is not None:
        ids = person_ids_of(person_ids, labels.size)
        with ledger.release() as release:
            record_rows(release, "validation", ids, labels)
            record_histogram(release, "validation", ids, labels, scores, stats.histogram)
    return stats


def hanley_mcneil_se(a: float, n_pos: int, n_neg: int) -> float:
    """SE of an AUROC from its value and class sizes (Hanley & McNeil 1982, eq. 2)."""
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def pooled_auroc(stats: Sequence[SiteSufficientStatistics], confidence: float = 0.95) -> Estimate:
    """AUROC over all sites' rows: exact within-site U plus modelled cross-site pairs; Hanley–McNeil CI."""
    pos = [ClassIntervals(s.histogram.positives) for s in stats]
    neg = [ClassIntervals(s.histogram.negatives) for s in stats]
    cross = sum(concordant_pairs(pos[i], neg[j]) for i in range(len(stats)) for j in range(len(stats)) if i != j)
    p = sum(s.events for s in stats)
    n = sum(s.n - s.events for s in stats)
    a = (math.fsum(s.concordant_pairs for s in stats) + cross) / (p * n)
    se = hanley_mcneil_se(a, p, n)
    low, high = logit_ci(a, se, confidence)
    return Estimate(estimate=a, se=se, ci_low=low, ci_high=high)


def pooled_counts_at(
    stats: Sequence[SiteSufficientStatistics], t: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Test-positive positives and negatives at each t over the sites, and whether every site had an edge there
    (exact there, interpolated inside bins elsewhere); one site's list gives that site's own counts."""
    tp = sum((ClassIntervals(s.histogram.positives).count_at_or_above(t) for s in stats), np.zeros(t.size))
    fp = sum((ClassIntervals(s.histogram.negatives).count_at_or_above(t) for s in stats), np.zeros(t.size))
    exact = np.logical_and.reduce([has_edge(s.histogram, t) for s in stats])
    return np.rint(tp), np.rint(fp), exact


def pooled_calibration_curve(stats: Sequence[SiteSufficientStatistics], spec: ValidationSpec) -> CalibrationCurve:
    """The curve on the calibration edges every site kept (bins merged where a site merged across an edge); one
    site's list gives that site's own curve."""
    edges = uniform_edges(spec.calibration_bins)
    keep = np.logical_and.reduce([has_edge(s.histogram, edges) for s in stats])
    keep[[0, -1]] = True
    common = edges[keep]
    nb = common.size - 1
    n, events, sums = np.zeros(nb, np.int64), np.zeros(nb, np.int64), np.zeros(nb)
    for s in stats:
        for h, positive in ((s.histogram.positives, True), (s.histogram.negatives, False)):
            e = np.asarray(h.edges)
            idx = bin_index((e[:-1] + e[1:]) / 2, common)
            n += np.bincount(idx, h.counts, nb).astype(np.int64)
            if positive:
                events += np.bincount(idx, h.counts, nb).astype(np.int64)
            sums += np.bincount(idx, h.score_sums, nb)
    return curve_from_sums(common, n, events, sums)


def pool_site_statistics(
    stats: Sequence[SiteSufficientStatistics], citl: LogisticFit, slope: LogisticFit, spec: ValidationSpec
) -> PooledMetrics:
    """Hub side: the pooled metrics from every site's record and the two federated Newton fits."""
    if not stats:
        raise ValueError("need at least one site's statistics")
    n = sum(s.n for s in stats)
    events = sum(s.events for s in stats)
    thresholds = np.asarray(spec.decision_thresholds)
    tp, fp, exact = pooled_counts_at(stats, np.concatenate([[spec.threshold], thresholds]))  # the declared one first
    counts = counts_from_totals(spec.threshold, int(tp[0]), int(fp[0]), events, n)
    return PooledMetrics(
        method="federated",
        sites=len(stats),
        n=n,
        events=events,
        brier=brier_from_sums(math.fsum(s.squared_error_sum for s in stats), n, events),
        auroc=pooled_auroc(stats, spec.confidence),
        auroc_ci_method="hanley-mcneil",
        citl=citl.intercept_estimate(spec.confidence),
        calibration_slope=slope.slope_estimate(spec.confidence),
        threshold=threshold_metrics(counts, confidence=spec.confidence),
        threshold_exact=bool(exact[0]),
        calibration_curve=pooled_calibration_curve(stats, spec),
        decision_curve=curve_from_counts(thresholds, tp[1:], fp[1:], n, events, tuple(bool(x) for x in exact[1:])),
    )


def federated_pooled_metrics(
    sites: Sequence[tuple[Any, Any]], spec: ValidationSpec | None = None, rules: DisclosureRules | None = None
) -> PooledMetrics:
    """The whole federated computation in one process: each site's record and every Newton round go through the
    same site-side functions and validated records the Flower job uses; only the transport is missing."""
    sp = spec or ValidationSpec()
    stats = [site_sufficient_statistics(y, s, sp, rules) for y, s in sites]

    def fit(mode: Literal["slope", "citl"]) -> LogisticFit:
        def query_sites(params: LogisticParams) -> list[Any]:
            return [site_logistic_step(y, s, params, mode, rules) for y, s in sites]

        return fit_pooled_logistic(query_sites, mode)

    return pool_site_statistics(stats, fit("citl"), fit("slope"), sp)


def centralised_pooled_metrics(
    y_true: Any, y_score: Any, spec: ValidationSpec | None = None, *, sites: int = 1
) -> PooledMetrics:
    """The same metrics computed directly from the pooled rows (the `--centralised` reference)."""
    sp = spec or ValidationSpec()
    labels, scores = check_labels_scores(y_true, y_score)
    n, events = int(labels.size), int(labels.sum())
    a = auroc(labels, scores, confidence=sp.confidence)
    citl, slope = fit_rows(labels, scores, "citl"), fit_rows(labels, scores, "slope")
    dc = decision_curve(labels, scores, sp.decision_thresholds)
    return PooledMetrics(
        method="centralised",
        sites=sites,
        n=n,
        events=events,
        brier=brier_from_sums(float(np.sum((scores - labels) ** 2)), n, events),
        auroc=Estimate(estimate=a.estimate, se=a.se, ci_low=a.ci_low, ci_high=a.ci_high),
        auroc_ci_method="delong",
        citl=citl.intercept_estimate(sp.confidence),
        calibration_slope=slope.slope_estimate(sp.confidence),
        threshold=threshold_metrics(confusion_counts(labels, scores, sp.threshold), confidence=sp.confidence),
        threshold_exact=True,
        calibration_curve=calibration_curve(labels, scores, n_bins=sp.calibration_bins),
        decision_curve=dc.model_copy(update={"exact": tuple(True for _ in dc.thresholds)}),
    )
