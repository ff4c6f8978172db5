"""How numbers appear in the report: fixed decimals, intervals, and suppressed cells as text, never numbers."""

from __future__ import annotations

import math

from dari.disclosure import ProtectedCount
from dari.reports.i18n import Lang, t
from dari.validation import Estimate
from dari.validation.thresholds import Proportion

DASH = "—"


def num(x: float | None, digits: int = 3) -> str:
    """A number with fixed decimals; an undefined value (None, NaN, ±inf) as a dash."""
    if x is None or not math.isfinite(x):
        return DASH
    return f"{x:.{digits}f}"


def interval(est: float | None, low: float | None, high: float | None, digits: int = 3) -> str:
    """`0.855 [0.836–0.872]`; the brackets dropped when the interval is undefined."""
    if est is None or not math.isfinite(est):
        return DASH
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return num(est, digits)
    return f"{num(est, digits)} [{num(low, digits)}–{num(high, digits)}]"


def estimate(e: Estimate, digits: int = 3) -> str:
    """An estimate with its CI."""
    return interval(e.estimate, e.ci_low, e.ci_high, digits)


def proportion(p: Proportion | None, lang: Lang, min_cell: int) -> str:
    """A proportion with its Wilson CI, or the withheld marker (the 2×2 table had a small cell)."""
    if p is None:
        return f"{t('withheld', lang)} (<{min_cell})"
    return interval(p.estimate, p.ci_low, p.ci_high)


def count(c: ProtectedCount | int | None) -> str:
    """A released count: a ProtectedCount as shown (`<10` or rounded), an int as is."""
    if c is None:
        return DASH
    if isinstance(c, ProtectedCount):
        return c.shown
    return f"{c:,}"


def suppressed_cell(lang: Lang) -> str:
    """What a cell of a suppressed subgroup level reads: `suppressed*`, never `<10`.

    A level is suppressed for its events or non-events, or to protect another level (complementary suppression);
    its size may be far above the minimum cell, so printing `<10` would state a false count.
    """
    return f"{t('suppressed', lang)}*"


def percent(x: float | None) -> str:
    """A fraction as a percentage with one decimal."""
    return DASH if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"
