"""Disclosure control of counts that leave a site: small cells suppressed, the rest rounded.

Every aggregate that leaves a site passes here (catalog characterisation now, federated jobs later), so the rule
lives in one place. A count below `min_cell` (default 10) is shown as "<10" and carries no value; any other count is
rounded to the nearest multiple of `rounding_base` (default 5, halves rounded up), which also blurs the differences
between overlapping tables that could otherwise reveal a suppressed cell.

Consistent keyed noise (i2b2/SHRINE and TriNetX style), for releases made under a site's release ledger
(`dari.federation.ledger`): before rounding, a count gets an integer noise drawn from a keyed PRF of the site's
secret and the *person set* behind the count (`keyed_noise`), so the same set always gets the same answer however
the query is phrased, and repeating or rephrasing a query cannot average the noise away. Suppression still looks
at the exact count (a cell below `min_cell` never leaves, whatever the noise).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from statistics import NormalDist

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dari.errors import InputError


class DisclosureRules(BaseModel):
    """Thresholds of the site's disclosure control (configurable per site or consortium)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    min_cell: int = Field(default=10, ge=1)
    rounding_base: int = Field(default=5, ge=1)


class ProtectedCount(BaseModel):
    """A count as it may leave the site: either suppressed or rounded; never the raw value of a small cell.

    Self-checking against the rules it was protected under (`rules`, default 10 / 5): suppressed ⇔ value is None
    ⇔ shown is "<m" with m the rules' min_cell; otherwise shown is str(value) and value is at least min_cell and a
    multiple of the rounding base (or exactly min_cell, the clamp of `protect_count`). So `shown="3", value=3`
    never parses unless it names rules that allow it, and `check_protected` then refuses rules weaker than a
    reader's own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    shown: str = Field(max_length=24)
    value: int | None = Field(description="rounded count; None when suppressed")
    suppressed: bool
    rules: DisclosureRules = Field(default_factory=DisclosureRules, description="the rules it was protected under")

    @model_validator(mode="after")
    def _consistent(self) -> ProtectedCount:
        floor, base = self.rules.min_cell, self.rules.rounding_base
        if self.suppressed:
            if self.value is not None or self.shown != f"<{floor}":
                raise ValueError(f'a suppressed count has no value and is shown as "<{floor}" (its min_cell)')
        elif self.value is None or self.shown != str(self.value):
            raise ValueError("a released count has a value, shown as exactly that value")
        elif self.value < floor or (self.value % base and self.value != floor):
            raise ValueError(f"a released count is at least {floor} and a multiple of {base} (its rules)")
        return self


def protect_count(n: int, rules: DisclosureRules | None = None, *, noise: int = 0) -> ProtectedCount:
    """Suppress a count below the minimum cell size, otherwise round it (plus `noise`, see `keyed_noise`)."""
    if isinstance(n, bool) or n < 0:
        raise ValueError(f"count must be a non-negative integer, got {n!r}")
    r = rules or DisclosureRules()
    if n < r.min_cell:  # on the exact count: noise never lets a small cell out
        return ProtectedCount(shown=f"<{r.min_cell}", value=None, suppressed=True, rules=r)
    base, noisy = r.rounding_base, max(n + noise, 0)
    rounded = max(((noisy + base // 2) // base) * base, r.min_cell)  # never round a releasable cell below the minimum
    return ProtectedCount(shown=str(rounded), value=int(rounded), suppressed=False, rules=r)


class NoiseSpec(BaseModel):
    """The keyed noise's distribution: a normal of SD `sigma` rounded to an integer, clamped to ±`cap`.

    Defaults follow SHRINE's published obfuscation in spirit (σ a little above the rounding base's half-width,
    clamped so a count is never moved by more than `cap`): with rounding to 5 the shown value is within
    `cap` + 2 of the truth.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    sigma: float = Field(default=3.0, ge=0)
    cap: int = Field(default=6, ge=0)


_NOISE_DOMAIN = b"dari-noise/1"
_NORMAL = NormalDist()


def keyed_noise(key: bytes, person_set: bytes, spec: NoiseSpec | None = None) -> int:
    """The integer noise of one person set: HMAC-SHA256(key, set) mapped through the normal quantile.

    `person_set` is the canonical encoding of the set (the ledger's sorted keyed hashes): the same set gives the
    same noise under the same key, different sets give independent-looking draws, and without the key the draw
    cannot be predicted. u = (first 8 bytes as an integer + ½) / 2⁶⁴ is uniform on (0, 1); the noise is
    clamp(round(σ·Φ⁻¹(u)), −cap, cap).
    """
    s = spec or NoiseSpec()
    if s.sigma == 0 or s.cap == 0:
        return 0
    digest = hmac.new(key, _NOISE_DOMAIN + person_set, hashlib.sha256).digest()
    u = (int.from_bytes(digest[:8], "big") + 0.5) / 2.0**64
    return max(-s.cap, min(s.cap, round(s.sigma * _NORMAL.inv_cdf(u))))


def protect_counts(counts: Mapping[str, int], rules: DisclosureRules | None = None) -> dict[str, ProtectedCount]:
    """`protect_count` over a mapping of labelled counts."""
    return {label: protect_count(n, rules) for label, n in counts.items()}


class DisclosureRefusedError(InputError):
    """A site refuses to release a statistic computed over too few rows, events or non-events.

    The message names what was too small and the threshold, never the count itself (that would disclose it).
    """


def check_protected(count: ProtectedCount, rules: DisclosureRules, what: str = "count") -> None:
    """Refuse (raise `DisclosureRefusedError`) a count that `rules` would not have released as it stands.

    The count already obeys the rules it names (its validator); here those rules must be at least as strict as
    `rules`: a minimum cell and a rounding base no smaller. So a released count is at least `rules.min_cell` and
    a multiple of the rounding base it names, except the documented clamp of `protect_count` (a count that would
    round below the minimum is shown as min_cell), and a suppressed one was suppressed under at least the same
    floor ("<5" says more than "<10"). The message names `what` (a field path) and the rule, never the value.
    """
    named = count.rules
    if named.min_cell < rules.min_cell:
        raise DisclosureRefusedError(f"{what}: protected under a minimum cell below {rules.min_cell}")
    if named.rounding_base < rules.rounding_base:
        raise DisclosureRefusedError(f"{what}: rounded to a base below {rules.rounding_base}")
    # The validator already holds the value to its named rules; checked again so that a count made with
    # model_construct (no validation) cannot slip through.
    value = count.value
    if count.suppressed:
        if value is not None or count.shown != f"<{named.min_cell}":
            raise DisclosureRefusedError(f"{what}: a suppressed count that shows or carries a value")
        return
    if value is None or value < rules.min_cell or count.shown != str(value):
        raise DisclosureRefusedError(f"{what}: a released count below the minimum cell size {rules.min_cell}")
    if value % named.rounding_base and value != named.min_cell:
        raise DisclosureRefusedError(f"{what}: a released count not rounded to a multiple of {named.rounding_base}")


def require_min_cell(n: int, what: str, rules: DisclosureRules | None = None) -> None:
    """Refuse (raise `DisclosureRefusedError`) when a statistic would be computed over fewer than `min_cell` `what`.

    Used by every federated job before its site-level record leaves: e.g. `require_min_cell(events, "events")`.
    """
    if isinstance(n, bool) or n < 0:
        raise ValueError(f"count must be a non-negative integer, got {n!r}")
    r = rules or DisclosureRules()
    if n < r.min_cell:
        raise DisclosureRefusedError(f"fewer than {r.min_cell} {what}: the statistic would disclose a small cell")


#: A secure (SecAgg+) sum is released only over at least this many sites: one site's "sum" is its own value.
MIN_SUM_SITES = 2


def require_sum_of_sites(sites: int, what: str) -> None:
    """Refuse a secure sum (`DisclosureRefusedError`) over fewer than `MIN_SUM_SITES` sites (each site has checked
    its own floor before it contributed)."""
    if sites < MIN_SUM_SITES:
        raise DisclosureRefusedError(f"{what}: a secure sum over {sites} site(s); at least {MIN_SUM_SITES} are needed")


def site_rules(requested: DisclosureRules, floor: DisclosureRules | None = None) -> DisclosureRules:
    """The rules a site applies: the job's request, never weaker than the site's own floor (default 10 / 5).

    The rules travel inside a job from the hub; a site must not let a request lower its minimum cell size.
    """
    f = floor or DisclosureRules()
    return DisclosureRules(
        min_cell=max(requested.min_cell, f.min_cell), rounding_base=max(requested.rounding_base, f.rounding_base)
    )
