"""Disclosure control of counts that leave a site: small cells suppressed, the rest rounded.

Every aggregate that leaves a site passes here (catalog characterisation now, federated jobs later), so the rule
lives in one place. A count below `min_cell` (default 10) is shown as "<10" and carries no value; any other count is
rounded to the nearest multiple of `rounding_base` (default 5, halves rounded up), which also blurs the differences
between overlapping tables that could otherwise reveal a suppressed cell.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from dari.errors import InputError


class DisclosureRules(BaseModel):
    """Thresholds of the site's disclosure control (configurable per site or consortium)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    min_cell: int = Field(default=10, ge=1)
    rounding_base: int = Field(default=5, ge=1)


class ProtectedCount(BaseModel):
    """A count as it may leave the site: either suppressed or rounded; never the raw value of a small cell."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    shown: str
    value: int | None = Field(description="rounded count; None when suppressed")
    suppressed: bool


def protect_count(n: int, rules: DisclosureRules | None = None) -> ProtectedCount:
    """Suppress a count below the minimum cell size, otherwise round it to the rounding base."""
    if isinstance(n, bool) or n < 0:
        raise ValueError(f"count must be a non-negative integer, got {n!r}")
    r = rules or DisclosureRules()
    if n < r.min_cell:
        return ProtectedCount(shown=f"<{r.min_cell}", value=None, suppressed=True)
    base = r.rounding_base
    rounded = max(((n + base // 2) // base) * base, r.min_cell)  # never round a releasable cell below the minimum
    return ProtectedCount(shown=str(rounded), value=rounded, suppressed=False)


def protect_counts(counts: Mapping[str, int], rules: DisclosureRules | None = None) -> dict[str, ProtectedCount]:
    """`protect_count` over a mapping of labelled counts."""
    return {label: protect_count(n, rules) for label, n in counts.items()}


class DisclosureRefusedError(InputError):
    """A site refuses to release a statistic computed over too few rows, events or non-events.

    The message names what was too small and the threshold, never the count itself (that would disclose it).
    """


def require_min_cell(n: int, what: str, rules: DisclosureRules | None = None) -> None:
    """Refuse (raise `DisclosureRefusedError`) when a statistic would be computed over fewer than `min_cell` `what`.

    Used by every federated job before its site-level record leaves: e.g. `require_min_cell(events, "events")`.
    """
    if isinstance(n, bool) or n < 0:
        raise ValueError(f"count must be a non-negative integer, got {n!r}")
    r = rules or DisclosureRules()
    if n < r.min_cell:
        raise DisclosureRefusedError(f"fewer than {r.min_cell} {what}: the statistic would disclose a small cell")


def site_rules(requested: DisclosureRules, floor: DisclosureRules | None = None) -> DisclosureRules:
    """The rules a site applies: the job's request, never weaker than the site's own floor (default 10 / 5).

    The rules travel inside a job from the hub; a site must not let a request lower its minimum cell size.
    """
    f = floor or DisclosureRules()
    return DisclosureRules(
        min_cell=max(requested.min_cell, f.min_cell), rounding_base=max(requested.rounding_base, f.rounding_base)
    )
