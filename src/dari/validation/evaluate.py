"""All the validation statistics of one set of rows (a site, a subgroup, or the centralised pool), and what of
them may leave a site.

`evaluate` computes everything from the rows; `protect_metrics` turns the result into what may be released:
refused below the minimum cell size of events or non-events, the 2×2 table withheld when a cell is small, and
the curves left out (net benefit at many thresholds is as revealing as a fine histogram, and calibration-bin
counts overlap the histogram's bins; the hub derives both curves from the protected histogram of
`dari.validation.sufficient` instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from dari.disclosure import DisclosureRules, require_min_cell
from dari.validation._common import NAN, Result, check_labels_scores
from dari.validation.calibration import CalibrationResult, calibration
from dari.validation.decision_curve import DEFAULT_THRESHOLDS, DecisionCurve, check_thresholds, decision_curve_ranked
from dari.validation.discrimination import AurocResult, RankedScores, auroc_ranked, average_precision_ranked
from dari.validation.ledger_cells import person_ids_of, record_rows, record_table
from dari.validation.thresholds import ThresholdMetrics, counts_from_totals, threshold_metrics

if TYPE_CHECKING:
    from dari.federation.ledger import ReleaseLedger


class ValidationSpec(Result):
    """What to compute: the declared operating threshold and the binning of curves (shared by sites and hub)."""

    threshold: float = Field(default=0.5, gt=0, lt=1, description="test-positive when score ≥ threshold")
    calibration_bins: int = Field(default=10, ge=1, le=100)
    calibration_strategy: Literal["uniform", "quantile"] = "uniform"
    decision_thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    confidence: float = Field(default=0.95, gt=0, lt=1)
    histogram_bins: int = Field(default=2000, ge=10, le=100_000, description="fine grid for the pooled AUROC")
    score_decimals: int | None = Field(
        default=None, ge=1, le=6, description="the model's published resolution: every score a multiple of 10⁻ᵈ"
    )

    @field_validator("decision_thresholds")
    @classmethod
    def _inside(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        check_thresholds(v)
        return tuple(sorted({round(t, 12) for t in v}))

    @field_validator("threshold")
    @classmethod
    def _canonical(cls, v: float) -> float:
        return round(v, 12)  # anchors are compared as doubles: 0.1 + 0.2 and 0.3 must meet


class ValidationMetrics(Result):
    """Discrimination, accuracy at the threshold, calibration and net benefit of one set of rows.

    `threshold` and `decision_curve` are None where disclosure control withheld them (`protect_metrics`).
    """

    n: int
    events: int
    prevalence: float
    auroc: AurocResult
    auprc: float
    threshold: ThresholdMetrics | None
    calibration: CalibrationResult
    decision_curve: DecisionCurve | None


def evaluate(y_true: Any, y_score: Any, spec: ValidationSpec | None = None) -> ValidationMetrics:
    """Every statistic of the rows; undefined ones (one class only…) warn and are NaN, nothing raises."""
    sp = spec or ValidationSpec()
    labels, scores = check_labels_scores(y_true, y_score)
    ranked = RankedScores(labels, scores)  # one sort for AUROC, AUPRC, the 2×2 table and the decision curve
    n, events = labels.size, ranked.m
    tp, fp = ranked.counts_at_or_above(np.array([sp.threshold]))
    counts = counts_from_totals(sp.threshold, int(tp[0]), int(fp[0]), events, n)
    return ValidationMetrics(
        n=n,
        events=events,
        prevalence=events / n if n else NAN,
        auroc=auroc_ranked(ranked, sp.confidence),
        auprc=average_precision_ranked(ranked),
        threshold=threshold_metrics(counts, confidence=sp.confidence),
        calibration=calibration(
            labels, scores, n_bins=sp.calibration_bins, strategy=sp.calibration_strategy, confidence=sp.confidence
        ),
        decision_curve=decision_curve_ranked(ranked, sp.decision_thresholds),
    )


def complementary_suppression(
    cells: Sequence[Sequence[int]], min_cell: int, already: Sequence[bool] | None = None
) -> list[bool]:
    """Which rows of a partition to suppress (each row a tuple of counts, e.g. events and non-events, or a 2×2
    table): those `already` suppressed, every row with a count below `min_cell`, then further rows (smallest
    first) until the suppressed rows together hold, in every count, none or at least `min_cell` — so that the
    released total minus the released rows does not give a small cell back."""
    suppressed = [bool(a) or min(c) < min_cell for c, a in zip(cells, already or [False] * len(cells), strict=True)]
    while not all(suppressed):
        totals = [sum(col) for col in zip(*(c for c, s in zip(cells, suppressed, strict=True) if s), strict=True)]
        if not any(0 < t < min_cell for t in totals):
            break
        smallest = min((i for i, s in enumerate(suppressed) if not s), key=lambda i: min(cells[i]))
        suppressed[smallest] = True
    return suppressed


def protect_metrics(metrics: ValidationMetrics, rules: DisclosureRules | None = None) -> ValidationMetrics:
    """What of `metrics` may leave the site; raises `DisclosureRefusedError` below min_cell events or non-events.

    The calibration curve's bins are left out with the decision curve: their counts, combined with the bins of
    the site's protected histogram (whose edges differ), could isolate a small cell; the hub derives both curves
    from that histogram. ECE, CITL and slope stay (statistics over all rows).
    """
    r = rules or DisclosureRules()
    require_min_cell(metrics.events, "events", r)
    require_min_cell(metrics.n - metrics.events, "non-events", r)
    threshold = metrics.threshold
    if threshold is not None and min(threshold.counts.cells) < r.min_cell:
        threshold = None
    cal = metrics.calibration
    curve = cal.curve.model_copy(update={"bins": ()})
    return metrics.model_copy(
        update={
            "threshold": threshold,
            "calibration": cal.model_copy(update={"curve": curve}),
            "decision_curve": None,
        }
    )


def site_metrics(
    y_true: Any,
    y_score: Any,
    spec: ValidationSpec | None = None,
    rules: DisclosureRules | None = None,
    *,
    ledger: ReleaseLedger | None = None,
    person_ids: Any = None,
) -> ValidationMetrics:
    """Site side: `protect_metrics(evaluate(...))`; with a `ledger`, the rows, both classes and the released 2×2
    cells are recorded by their persons (`person_ids`, one per row), refused when they difference an earlier
    release."""
    sp = spec or ValidationSpec()
    metrics = protect_metrics(evaluate(y_true, y_score, sp), rules)
    if ledger is not None:
        labels, scores = check_labels_scores(y_true, y_score)
        ids = person_ids_of(person_ids, labels.size)
        with ledger.release() as release:
            record_rows(release, "metrics", ids, labels)
            if metrics.threshold is not None:
                record_table(release, "metrics", ids, labels, scores, sp.threshold)
    return metrics
