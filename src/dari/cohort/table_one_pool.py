"""Pooled Table 1 across sites, from the sites' protected Table 1s only (see dari.cohort.pooling for the maths).

Decision on pooled medians and IQRs: they are reported, approximately, from the sites' histograms (bins of at
least `min_cell` persons on the grid the request fixes), and only for variables with a `bin_width`; a site whose
n was below `min_cell` released no histogram and no mean/SD, and is listed in `sites_without_statistics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dari.cohort.pooling import PooledCount, histogram_quantile, pool_counts, pool_mean_sd
from dari.cohort.summary import NumericSummary
from dari.cohort.table_one import CountRow, TableOne
from dari.disclosure import DisclosureRules
from dari.errors import InputError


class PooledNumeric(BaseModel):
    """A variable over all sites: summed n, pooled mean/SD, and approximate quantiles from histograms."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    n: PooledCount
    mean: float | None
    sd: float | None
    q1: float | None
    median: float | None
    q3: float | None
    quantiles_approximate: bool
    sites_without_statistics: list[str]


class PooledTableOne(BaseModel):
    """Table 1 summed and pooled over sites."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["dari-table-one-pooled/1"] = "dari-table-one-pooled/1"
    sites: list[str]
    definition_name: str
    definition_digest: str
    n: PooledCount
    age: PooledNumeric
    sex: dict[str, PooledCount]
    comorbidities: dict[str, PooledCount]
    labs: dict[str, PooledNumeric]


def pool_numeric(
    sites: Sequence[str], summaries: Sequence[NumericSummary], rules: Sequence[DisclosureRules]
) -> PooledNumeric:
    """Pool one variable: mean/SD from released (n, mean, SD); quantiles from the released histograms."""
    parts = [
        (s.n.value, s.mean, s.sd if s.sd is not None else 0.0)
        for s in summaries
        if s.released and s.n.value is not None and s.mean is not None
    ]
    mean, sd = pool_mean_sd(parts)
    bins = [b for s in summaries for b in s.histogram]
    q1, median, q3 = (histogram_quantile(bins, q) for q in (0.25, 0.5, 0.75))
    return PooledNumeric(
        n=pool_counts([s.n for s in summaries], rules),
        mean=None if mean is None else round(mean, 6),
        sd=None if sd is None else round(sd, 6),
        q1=None if q1 is None else round(q1, 6),
        median=None if median is None else round(median, 6),
        q3=None if q3 is None else round(q3, 6),
        quantiles_approximate=True,
        sites_without_statistics=[site for site, s in zip(sites, summaries, strict=True) if not s.released],
    )


def _rows(results: Sequence[TableOne], pick: Literal["sex", "comorbidities"]) -> dict[str, PooledCount]:
    tables: list[dict[str, CountRow]] = [{row.name: row for row in getattr(r, pick)} for r in results]
    rules = [r.rules for r in results]
    return {name: pool_counts([t[name].persons for t in tables], rules) for name in tables[0]}


def pool_table_one(results: Sequence[TableOne]) -> PooledTableOne:
    """Pool sites' protected Table 1s computed from the same definition and request."""
    if not results:
        raise InputError("no site Table 1s to pool")
    first = results[0]
    for r in results[1:]:
        if (r.definition_digest, r.request_digest) != (first.definition_digest, first.request_digest):
            raise InputError(f"site {r.site} ran another cohort definition or Table 1 request")
    sites = [r.site for r in results]
    if len(set(sites)) != len(sites):
        raise InputError(f"a site appears twice among the results: {sites}")
    rules = [r.rules for r in results]
    return PooledTableOne(
        sites=sites,
        definition_name=first.definition_name,
        definition_digest=first.definition_digest,
        n=pool_counts([r.n for r in results], rules),
        age=pool_numeric(sites, [r.age for r in results], rules),
        sex=_rows(results, "sex"),
        comorbidities=_rows(results, "comorbidities"),
        labs={
            lab.name: pool_numeric(sites, [r.labs[k].summary for r in results], rules)
            for k, lab in enumerate(first.labs)
        },
    )
