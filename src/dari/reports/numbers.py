"""Every number of the validation report, computed once from the run: tables, text and figures all read it here.

A regulator reads the same quantity in several places (the site table, the summary, a figure's legend, a forest
plot); each is drawn from the one value held here, and formatted by the one formatter (`label_of`), so they
cannot disagree. The curves the hub derives from a site's protected histogram are computed here too, once.

Two quantities look alike and are not the same: a site's ECE is computed by the site over its rows (released
with its metrics), while its calibration *curve* is derived at the hub from its protected histogram; the figure
plots that curve and labels it with the site's ECE, and the methods text says so. A site's cohort is released
rounded (to the rounding base, perhaps with keyed noise) while its analysed n is exact: the cohort is shown as
approximate (`≈210`) beside the exact n, and the caption says why the two differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dari.disclosure import ProtectedCount
from dari.federation.flower.jobs import ValidationRun
from dari.reports.site_curves import RocPoints, calibration_points, decision_points, roc_points
from dari.validation import Estimate, MetaAnalysis
from dari.validation.thresholds import ThresholdMetrics

DEFAULT_BINS = 10  # ValidationSpec's default; the results file does not record the spec


@dataclass(frozen=True)
class Curve:
    """Points of one curve (x, y) as plotted."""

    x: tuple[float, ...]
    y: tuple[float, ...]


@dataclass(frozen=True)
class SiteNumbers:
    """One covered site's released metrics and the curves derived from its protected histogram."""

    site: str
    n: int
    events: int
    cohort: ProtectedCount | None
    unscored: ProtectedCount | None
    auroc: Estimate
    auprc: float
    citl: Estimate
    slope: Estimate
    ece: float  # computed at the site over its rows
    brier: float
    threshold: ThresholdMetrics | None
    roc: RocPoints | None
    calibration: Curve | None  # from the protected histogram
    net_benefit: tuple[float, ...] | None


@dataclass(frozen=True)
class PooledNumbers:
    """The pooled (federated) metrics and curves."""

    n: int
    events: int
    auroc: Estimate
    auroc_ci_method: str
    citl: Estimate
    slope: Estimate
    ece: float
    brier: float
    threshold: ThresholdMetrics
    threshold_exact: bool
    calibration: Curve
    calibration_bins: int  # bins holding rows: the sites' equal-width bins left after merging for disclosure
    calibration_edges: tuple[float, ...]
    decision_thresholds: tuple[float, ...]
    net_benefit: tuple[float, ...]
    treat_all: tuple[float, ...]
    treat_none: tuple[float, ...]


@dataclass(frozen=True)
class ReportNumbers:
    """All of it: per site, pooled, meta-analysis, and the parameters the methods text names."""

    sites: dict[str, SiteNumbers]
    pooled: PooledNumbers | None
    meta: dict[str, MetaAnalysis]
    threshold: float | None
    min_cell: int
    rounding_base: int
    site_calibration_bins: int


def _curve(bins: object) -> Curve:
    pts = [(b.mean_predicted, b.observed) for b in bins if b.n and math.isfinite(b.mean_predicted)]  # type: ignore[attr-defined]
    return Curve(x=tuple(p[0] for p in pts), y=tuple(p[1] for p in pts))


def compute(run: ValidationRun) -> ReportNumbers:
    """The report's numbers from the run (each derived curve computed here and nowhere else)."""
    pooled = run.pooled
    thresholds = tuple(pooled.decision_curve.thresholds) if pooled else ()
    sites: dict[str, SiteNumbers] = {}
    cells, bases = [], []
    for s in run.covered:
        r = run.sites[s]
        m, st = r.metrics, r.statistics
        if r.cohort is not None:
            bases.append(r.cohort.rules.rounding_base)
        if st is not None:
            cells.append(st.min_cell)
        if m is None:
            continue
        sites[s] = SiteNumbers(
            site=s,
            n=m.n,
            events=m.events,
            cohort=r.cohort,
            unscored=r.unscored,
            auroc=m.auroc,
            auprc=m.auprc,
            citl=m.calibration.citl,
            slope=m.calibration.slope,
            ece=m.calibration.curve.ece,
            brier=m.calibration.brier.brier,
            threshold=m.threshold,
            roc=roc_points(st) if st is not None else None,
            calibration=_curve(calibration_points(st, DEFAULT_BINS).bins) if st is not None else None,
            net_benefit=tuple(decision_points(st, thresholds).net_benefit) if st is not None and pooled else None,
        )
    pn = None
    if pooled is not None:
        c, dc = pooled.calibration_curve, pooled.decision_curve
        kept = [b for b in c.bins if b.n]
        pn = PooledNumbers(
            n=pooled.n,
            events=pooled.events,
            auroc=pooled.auroc,
            auroc_ci_method=pooled.auroc_ci_method,
            citl=pooled.citl,
            slope=pooled.calibration_slope,
            ece=c.ece,
            brier=pooled.brier.brier,
            threshold=pooled.threshold,
            threshold_exact=pooled.threshold_exact,
            calibration=_curve(c.bins),
            calibration_bins=len(kept),
            calibration_edges=tuple(sorted({b.low for b in kept} | {b.high for b in kept})),
            decision_thresholds=thresholds,
            net_benefit=tuple(dc.net_benefit),
            treat_all=tuple(dc.treat_all),
            treat_none=tuple(dc.treat_none),
        )
    return ReportNumbers(
        sites=sites,
        pooled=pn,
        meta=dict(run.meta_analysis),
        threshold=pooled.threshold.counts.threshold if pooled else None,
        min_cell=max(cells) if cells else 10,
        rounding_base=max(bases) if bases else 5,
        site_calibration_bins=DEFAULT_BINS,
    )


def approx(c: ProtectedCount | None) -> str:
    """A rounded (possibly noised) released count as approximate: `≈210`; a suppressed one as released (`<10`)."""
    if c is None:
        return "—"
    return c.shown if c.value is None else f"≈{c.value:,}"
