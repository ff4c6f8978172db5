"""Subgroup validation and fairness gaps (TRIPOD+AI item on performance in key subgroups).

For each declared grouping variable (sex, age band, anything else given as one label per row), every level is
evaluated with `evaluate` and released through `protect_metrics`. A level with fewer than `min_cell` events or
non-events is suppressed (nothing released); so are further levels, smallest first, until the suppressed levels
together hold none or at least `min_cell` events and non-events — otherwise the site total minus the released
levels would give the small cell back (complementary suppression). The 2×2 tables at the threshold follow the
same rule across the levels: a level's table is withheld when a cell is small, and more are withheld until the
withheld tables together hold no small cell.

The fairness gap of a metric over a variable is max − min across its released levels with a defined value
(AUROC, sensitivity, specificity, PPV, NPV, calibration slope, CITL, Brier, ECE).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dari.disclosure import DisclosureRules
from dari.validation._common import NAN, Result, check_labels_scores, undefined
from dari.validation.evaluate import (
    ValidationMetrics,
    ValidationSpec,
    complementary_suppression,
    evaluate,
    protect_metrics,
)
from dari.validation.ledger_cells import person_ids_of, record_rows, record_table

if TYPE_CHECKING:
    from dari.federation.ledger import Release, ReleaseLedger


class SubgroupResult(Result):
    """One level of a grouping variable: its protected metrics, or suppressed (nothing released, not even n)."""

    level: str
    suppressed: bool
    metrics: ValidationMetrics | None


class FairnessGap(Result):
    """max − min of one metric across the released levels of a variable (NaN with fewer than two values)."""

    metric: str
    gap: float
    highest: str | None
    lowest: str | None
    levels: int


class SubgroupVariable(Result):
    """All levels of one grouping variable and the gaps between them."""

    variable: str
    levels: tuple[SubgroupResult, ...]
    gaps: tuple[FairnessGap, ...]


def _threshold_value(name: str) -> Callable[[ValidationMetrics], float]:
    def get(m: ValidationMetrics) -> float:
        return NAN if m.threshold is None else float(getattr(m.threshold, name).estimate)

    return get


#: The metrics whose spread across subgroups is reported, and how each is read from a result.
GAP_METRICS: dict[str, Callable[[ValidationMetrics], float]] = {
    "auroc": lambda m: m.auroc.estimate,
    "sensitivity": _threshold_value("sensitivity"),
    "specificity": _threshold_value("specificity"),
    "ppv": _threshold_value("ppv"),
    "npv": _threshold_value("npv"),
    "calibration_slope": lambda m: m.calibration.slope.estimate,
    "calibration_in_the_large": lambda m: m.calibration.citl.estimate,
    "brier": lambda m: m.calibration.brier.brier,
    "ece": lambda m: m.calibration.curve.ece,
}


def fairness_gaps(levels: tuple[SubgroupResult, ...]) -> tuple[FairnessGap, ...]:
    """max − min of each of GAP_METRICS over the released levels (one warning names those left undefined)."""
    gaps, missing = [], []
    for name, read in GAP_METRICS.items():
        values = {lv.level: read(lv.metrics) for lv in levels if lv.metrics is not None}
        values = {k: v for k, v in values.items() if not math.isnan(v)}
        if len(values) < 2:
            missing.append(name)
            gaps.append(FairnessGap(metric=name, gap=NAN, highest=None, lowest=None, levels=len(values)))
            continue
        hi, lo = max(values, key=values.__getitem__), min(values, key=values.__getitem__)
        gaps.append(FairnessGap(metric=name, gap=values[hi] - values[lo], highest=hi, lowest=lo, levels=len(values)))
    if missing:
        undefined(f"the fairness gap of {', '.join(missing)} (fewer than two subgroups with a value)")
    return tuple(gaps)


def evaluate_subgroups(
    y_true: Any,
    y_score: Any,
    groups: Mapping[str, Any],
    spec: ValidationSpec | None = None,
    rules: DisclosureRules | None = None,
    *,
    ledger: ReleaseLedger | None = None,
    person_ids: Any = None,
) -> tuple[SubgroupVariable, ...]:
    """Protected metrics for every level of every grouping variable (labels compared as text), and the gaps.

    With a `ledger`, every level's rows and classes (suppressed levels as suppressed) and every released 2×2 cell
    are recorded by their persons (`person_ids`, one per row); refused when one differences an earlier release.
    """
    labels, scores = check_labels_scores(y_true, y_score)
    sp, r = spec or ValidationSpec(), rules or DisclosureRules()
    if ledger is None:
        return _subgroups(labels, scores, groups, sp, r, None, None)
    ids = person_ids_of(person_ids, labels.size)
    with ledger.release() as release:
        return _subgroups(labels, scores, groups, sp, r, release, ids)


def _subgroups(
    labels: Any,
    scores: Any,
    groups: Mapping[str, Any],
    sp: ValidationSpec,
    r: DisclosureRules,
    release: Release | None,
    ids: Any,
) -> tuple[SubgroupVariable, ...]:
    out = []
    for variable, raw in groups.items():
        level_of_row = np.asarray(raw).astype(str)
        if level_of_row.shape != labels.shape:
            raise ValueError(f"group {variable!r} needs one label per row, got {level_of_row.size} for {labels.size}")
        names, inverse = np.unique(level_of_row, return_inverse=True)
        rows = np.bincount(inverse, minlength=names.size)
        events = np.bincount(inverse, weights=labels, minlength=names.size).astype(int)
        hide = complementary_suppression(list(zip(events, rows - events, strict=True)), r.min_cell)
        metrics = [
            None if hide[i] else evaluate(labels[inverse == i], scores[inverse == i], sp) for i in range(names.size)
        ]
        # the 2×2 tables too: the withheld ones together must not be the site's table minus the released ones
        positive = scores >= sp.threshold
        tp = np.bincount(inverse, weights=positive & labels, minlength=names.size).astype(int)
        fp = np.bincount(inverse, weights=positive & ~labels, minlength=names.size).astype(int)
        tables = [(int(a), int(b), int(e - a), int(n - e - b)) for a, b, e, n in zip(tp, fp, events, rows, strict=True)]
        hide_table = complementary_suppression(tables, r.min_cell, already=hide)
        levels = []
        for i, name in enumerate(names.tolist()):
            m = metrics[i]
            if release is not None:
                rows_i, key = inverse == i, f"subgroup:{variable}={name}"
                record_rows(release, key, ids[rows_i], labels[rows_i], released=m is not None)
                if m is not None and not hide_table[i]:
                    record_table(release, key, ids[rows_i], labels[rows_i], scores[rows_i], sp.threshold)
            if m is None:
                levels.append(SubgroupResult(level=name, suppressed=True, metrics=None))
                continue
            released = protect_metrics(m.model_copy(update={"threshold": None}) if hide_table[i] else m, r)
            levels.append(SubgroupResult(level=name, suppressed=False, metrics=released))
        lv = tuple(levels)
        out.append(SubgroupVariable(variable=variable, levels=lv, gaps=fairness_gaps(lv)))
    return tuple(out)


def age_bands(age_years: Any, width: int = 10, top: int | None = 90) -> np.ndarray[Any, np.dtype[np.str_]]:
    """Age-band labels such as "60-69" (and "90+" from `top`), for use as a grouping variable."""
    age = np.asarray(age_years, dtype=np.int64)
    low = (age // width) * width
    labels = np.char.add(np.char.add(low.astype(str), "-"), (low + width - 1).astype(str))
    if top is not None:
        labels = np.where(age >= top, f"{top}+", labels)
    return np.asarray(labels, dtype=np.str_)
