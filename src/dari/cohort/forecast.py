"""Recruitment forecast at a site: persons newly meeting a cohort's criteria per month, and the next months'.

`unprotected_recruitment` counts, for each month of the lookback, the persons whose cohort entry (their first
index date meeting every inclusion rule) falls in that month; the lookback ends with the month of the site's data
cut (the latest `observation_period_end_date`) and by default starts with its first month of observation, so its
persons are the cohort's own (a shorter lookback's set may differ from the cohort's by a few persons, which the
release ledger refuses). Those exact counts stay at the site.

`forecast_total` is the model (documented in docs/cohort-definitions.md, "Recruitment forecast"): with y_1..y_T
the lookback's monthly counts and S = Σ y_t, the monthly rate λ gets Jeffreys' gamma posterior Gamma(S + ½, T);
the total of the next H months is then Poisson-gamma, i.e. negative binomial with mean m = (S + ½)·H/T and variance
m·(T + H)/T (Poisson noise plus the rate's uncertainty). Months vary more than Poisson in real hospitals, so the
variance is scaled by the Pearson dispersion φ = max(1, Σ (y_t − ȳ)² / ȳ / (T − 1)) (quasi-Poisson), and the
interval is the central `level` interval of the negative binomial with that mean and variance (scipy.stats.nbinom).

`recruitment` releases the persons entering over the lookback, the forecast's expected value and interval (every
figure a `ProtectedCount`: the model's outputs are rounded and suppressed like counts) and the monthly counts.
Under a site's release ledger the lookback's person set is one release (the forecast's figures are functions of
it), refused whole when it differences an earlier release; the months are a second release, and when the ledger
refuses that one the forecast leaves without its monthly history (`monthly_withheld` says why).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from dari.cdm.store import CdmStore
from dari.cohort.backend import cdm_table, ibis_session, materialised
from dari.cohort.compile import build_cohort
from dari.cohort.definition import CohortDefinition
from dari.disclosure import DisclosureRefusedError, DisclosureRules, ProtectedCount, protect_count
from dari.errors import InputError

if TYPE_CHECKING:
    from dari.federation.ledger import ReleaseLedger

Model = Literal["poisson-gamma", "negative-binomial"]


@dataclass(frozen=True)
class RawRecruitment:
    """Exact monthly counts (site-internal: never leaves the site) and the persons behind each month."""

    months: tuple[str, ...]  # "YYYY-MM", oldest first
    counts: tuple[int, ...]
    members: dict[str, np.ndarray[Any, Any]]  # month -> person ids, for the release ledger


@dataclass(frozen=True)
class Forecast:
    """The model's expected total over the horizon and its central interval (unrounded)."""

    expected: float
    low: int
    high: int
    dispersion: float
    model: Model


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _day(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def unprotected_recruitment(
    store: CdmStore, definition: CohortDefinition, *, site: str, lookback_months: int | None = None
) -> RawRecruitment:
    """Persons entering the cohort in each month of the lookback, which ends with the month of the site's data cut
    (the latest observation end, a month that may be partial); `lookback_months` None: from the site's first month
    of observation, so that the lookback's persons are exactly the cohort's."""
    if lookback_months is not None and lookback_months < 1:
        raise InputError(f"lookback_months must be at least 1, got {lookback_months}")
    with ibis_session(store) as backend:
        op = cdm_table(backend, "observation_period")
        span = (
            op.agg(start=op.observation_period_start_date.min(), cut=op.observation_period_end_date.max())
            .to_pyarrow()
            .to_pylist()[0]
        )
        compiled = build_cohort(backend, definition, site=site)
        with materialised(backend, compiled.events, "events") as ev:
            entries = compiled.entries(ev).select("person_id", "index_date").to_pyarrow()
    if span["cut"] is None:
        raise InputError("the site's CDM has no observation period: no data cut to count back from")
    last = _month_index(_day(span["cut"]))
    first = _month_index(_day(span["start"])) if lookback_months is None else last - lookback_months + 1
    ids = entries["person_id"].to_numpy(zero_copy_only=False).astype(np.int64)
    days = entries["index_date"].to_pylist()
    month = np.array([_month_index(d.date() if isinstance(d, dt.datetime) else d) for d in days], dtype=np.int64)
    labels = tuple(_month_label(m) for m in range(first, last + 1))
    members = {_month_label(m): ids[month == m] for m in range(first, last + 1)}
    return RawRecruitment(months=labels, counts=tuple(len(members[m]) for m in labels), members=members)


def forecast_total(counts: tuple[int, ...] | list[int], horizon_months: int, level: float = 0.9) -> Forecast:
    """Expected persons over the next `horizon_months` and the central `level` interval (see the module doc)."""
    t = len(counts)
    if t < 2:
        raise InputError(f"a forecast needs at least 2 months of history, got {t}")
    if horizon_months < 1:
        raise InputError(f"horizon_months must be at least 1, got {horizon_months}")
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level}")
    y = np.asarray(counts, dtype=np.float64)
    s, mean = float(y.sum()), float(y.mean())
    dispersion = max(1.0, float(((y - mean) ** 2).sum() / mean / (t - 1))) if mean > 0 else 1.0
    expected = (s + 0.5) * horizon_months / t
    variance = dispersion * expected * (t + horizon_months) / t
    p = expected / variance  # < 1 always: (t + h) / t > 1
    n = expected * p / (1.0 - p)
    tail = (1.0 - level) / 2.0
    low, high = stats.nbinom.ppf([tail, 1.0 - tail], n, p)
    model: Model = "negative-binomial" if dispersion > 1.0 else "poisson-gamma"
    return Forecast(expected, int(low), int(high), dispersion, model)


class MonthCount(BaseModel):
    """Persons whose cohort entry falls in one calendar month."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    persons: ProtectedCount


class RecruitmentForecast(BaseModel):
    """What leaves a site for a recruitment forecast: protected monthly counts and the protected forecast."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["dari-recruitment/1"] = "dari-recruitment/1"
    site: str
    definition_name: str
    definition_digest: str
    rules: DisclosureRules
    lookback_months: int
    horizon_months: int
    level: float = Field(gt=0, lt=1)
    model: Model
    lookback_persons: ProtectedCount = Field(description="persons entering the cohort over the lookback")
    monthly: list[MonthCount] = Field(description="empty when the release ledger withheld the monthly history")
    monthly_withheld: str = Field(default="", max_length=300, description="why the monthly history was withheld")
    expected: ProtectedCount = Field(description="expected new persons over the horizon (rounded, suppressed)")
    low: ProtectedCount
    high: ProtectedCount
    data_through: str = Field(pattern=r"^\d{4}-\d{2}$", description="the last month of history counted")


def recruitment(
    store: CdmStore,
    definition: CohortDefinition,
    *,
    site: str,
    lookback_months: int | None = None,
    horizon_months: int = 12,
    level: float = 0.9,
    rules: DisclosureRules | None = None,
    ledger: ReleaseLedger | None = None,
) -> RecruitmentForecast:
    """The site's protected monthly recruitment and forecast (under `ledger`: noisy, recorded, maybe refused)."""
    r = rules or DisclosureRules()
    raw = unprotected_recruitment(store, definition, site=site, lookback_months=lookback_months)
    fc = forecast_total(raw.counts, horizon_months, level)

    def monthly(count: Any) -> list[MonthCount]:
        return [MonthCount(month=m, persons=count(m, n)) for m, n in zip(raw.months, raw.counts, strict=True)]

    everyone = np.concatenate([raw.members[m] for m in raw.months]) if raw.months else np.zeros(0, np.int64)
    withheld = ""
    if ledger is None:
        total, months = protect_count(int(everyone.size), r), monthly(lambda _m, n: protect_count(n, r))
    else:
        # The forecast's figures are functions of the lookback's persons: that set is one release (refused as a
        # whole when it differences an earlier one). The monthly history is a second release: when the ledger
        # refuses it (small months beside an earlier small cell), the forecast still goes out, the history not.
        with ledger.release() as release:
            total = release.count("recruitment:lookback", everyone)
        try:
            with ledger.release() as release:
                months = monthly(lambda m, _n: release.count(f"recruitment:month:{m}", raw.members[m]))
        except DisclosureRefusedError as exc:
            months, withheld = [], str(exc)
    return RecruitmentForecast(
        site=site,
        definition_name=definition.name,
        definition_digest=definition.digest(),
        rules=r,
        lookback_months=len(raw.months),
        horizon_months=horizon_months,
        level=level,
        model=fc.model,
        data_through=raw.months[-1],
        lookback_persons=total,
        monthly=months,
        monthly_withheld=withheld,
        expected=protect_count(math.floor(fc.expected + 0.5), r),
        low=protect_count(fc.low, r),
        high=protect_count(fc.high, r),
    )
