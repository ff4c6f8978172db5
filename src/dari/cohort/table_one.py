"""Table 1 of a cohort at a site: age, sex, comorbidities and labs at index, disclosure-controlled.

Per site: n; age (mean, SD, median, IQR); persons by sex; persons with each comorbidity (any event of its
concept set in its window, default any time up to and including index, not limited to the observation period);
for each lab the latest value in its window (default 365 days before index to index; ties on a date go to the
highest measurement_id) summarised as n measured, mean, SD, median and IQR. Counts go through `protect_count`;
mean, SD and quantiles are released only when computed over at least `min_cell` persons; histograms (for pooled
quantiles, see dari.cohort.pooling) merge adjacent grid bins until each holds at least `min_cell` persons.

Under a site's release ledger (`table_one(..., ledger=...)`, what a federated characterisation does) every count
is the protected count of its person set with consistent keyed noise, every set (n, each sex, comorbidity, lab,
histogram bin) is recorded, and the release is refused when one differs from an earlier release's by a few
persons: Table 1 of 11 persons and then of 10 no longer gives the eleventh's age and eGFR.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import ibis  # type: ignore[import-untyped]
import ibis.expr.types as ir  # type: ignore[import-untyped]
import numpy as np
from ibis.backends.sql import SQLBackend  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field

from dari.cdm.concepts import SEXES
from dari.cdm.store import CdmStore
from dari.cohort.backend import ibis_session, materialised
from dari.cohort.compile import KEY, build_cohort, domain_events, window_join
from dari.cohort.definition import CohortDefinition
from dari.cohort.feasibility import AGE_CAP
from dari.cohort.members import table_one_members
from dari.cohort.request import TableOneRequest
from dari.cohort.resolve import resolve_concept_sets, sex_labels
from dari.cohort.summary import NumericSummary, RawNumeric, protect_numeric
from dari.disclosure import DisclosureRules, ProtectedCount, protect_count
from dari.errors import InputError

if TYPE_CHECKING:
    from dari.federation.ledger import Release, ReleaseLedger


@dataclass(frozen=True)
class RawTableOne:
    """Exact Table 1 at a site: site-internal only (tests, local review); never leaves the site."""

    n: int
    age: RawNumeric
    sex: dict[str, int]
    comorbidities: dict[str, int]
    labs: dict[str, RawNumeric]
    # cell -> person ids (`with_members`): "n", "sex:F", "comorbidity:<name>"; numeric members sit in RawNumeric
    members: dict[str, np.ndarray[Any, Any]] | None = None


def _summaries(values: ir.Table, widths: dict[str, float | None]) -> dict[str, RawNumeric]:
    """Per `variable`: exact n, mean, sample SD, quartiles (linear interpolation), grid bins of `hist_value`."""
    v = values.value
    stats = (
        values.group_by("variable")
        .agg(
            n=v.count(),
            mean=v.mean(),
            sd=v.std(),
            q1=v.quantile(0.25),
            median=v.quantile(0.5),
            q3=v.quantile(0.75),
        )
        .to_pyarrow()
        .to_pylist()
    )
    binned = {name: w for name, w in widths.items() if w}
    bins: dict[str, dict[int, int]] = {name: {} for name in widths}
    if binned:
        width = ibis.cases(*[(values.variable == name, w) for name, w in binned.items()], else_=None)
        rows = (
            values.filter(values.variable.isin(list(binned)))
            .mutate(bin=(values.hist_value / width).floor().cast("int64"))
            .group_by("variable", "bin")
            .agg(n=ibis._.count())
            .to_pyarrow()
            .to_pylist()
        )
        for row in rows:
            bins[row["variable"]][int(row["bin"])] = int(row["n"])
    by_name = {s["variable"]: s for s in stats}
    out = {}
    for name, w in widths.items():
        s = by_name.get(name)
        if s is None:
            out[name] = RawNumeric(0, None, None, None, None, None, w, {})
            continue
        out[name] = RawNumeric(
            n=int(s["n"]),
            mean=s["mean"],
            sd=s["sd"],
            q1=s["q1"],
            median=s["median"],
            q3=s["q3"],
            bin_width=w,
            bins=bins[name],
        )
    return out


def _sex_counts(backend: SQLBackend, cohort: ir.Table) -> dict[str, int]:
    rows = cohort.group_by("gender_concept_id").agg(n=ibis._.count()).to_pyarrow().to_pylist()
    codes = sex_labels(backend, [int(r["gender_concept_id"]) for r in rows if r["gender_concept_id"] is not None])
    by_sex = dict.fromkeys(SEXES, 0)
    for r in rows:
        code = codes.get(int(r["gender_concept_id"]), "unknown") if r["gender_concept_id"] is not None else "unknown"
        by_sex[code if code in by_sex else "unknown"] += int(r["n"])
    return by_sex


def _comorbidities(
    backend: SQLBackend, cohort: ir.Table, request: TableOneRequest, sets: dict[str, tuple[int, ...]]
) -> dict[str, int]:
    counts = dict.fromkeys((c.name for c in request.comorbidities), 0)
    if not request.comorbidities:
        return counts
    parts = []
    for c in request.comorbidities:
        events = domain_events(backend, c.domain, sets[c.concept_set])
        pairs = window_join(cohort, events, c.window, within_observation=False)
        parts.append(pairs.select("person_id", feature=ibis.literal(c.name)).distinct())
    rows = ibis.union(*parts).group_by("feature").agg(n=ibis._.count()).to_pyarrow().to_pylist()
    counts.update({r["feature"]: int(r["n"]) for r in rows})
    return counts


def _values(
    backend: SQLBackend,
    cohort: ir.Table,
    request: TableOneRequest,
    sets: dict[str, tuple[int, ...]],
    units: dict[str, int],
) -> ir.Table:
    """(variable, value, hist_value): age at index, then each lab's latest value in its window."""
    age = cohort.age.cast("float64")
    # Ages in the histogram are top-coded at 90, as in the feasibility bands: its top edge must not show the oldest.
    top_coded = ibis.ifelse(age > AGE_CAP, float(AGE_CAP), age)
    parts = [cohort.select("person_id", variable=ibis.literal("age"), value=age, hist_value=top_coded)]
    for i, lab in enumerate(request.labs):
        events = domain_events(backend, "measurement", sets[lab.concept_set], unit_id=units.get(f"labs[{i}].unit"))
        pairs = window_join(cohort, events.filter(events.value.notnull()), lab.window, within_observation=False)
        order = [pairs.event_date.desc(), pairs.event_id.desc()]  # the latest; a same-day tie to the last recorded
        ranked = pairs.mutate(rank=ibis.row_number().over(group_by=pairs.person_id, order_by=order))
        latest = ranked.filter(ranked["rank"] == 0)
        parts.append(
            latest.select(
                "person_id", variable=ibis.literal(f"lab:{lab.name}"), value=latest.value, hist_value=latest.value
            )
        )
    return ibis.union(*parts)


def unprotected_table_one(
    store: CdmStore, definition: CohortDefinition, request: TableOneRequest, *, site: str, with_members: bool = False
) -> RawTableOne:
    """Exact Table 1 of the cohort at this site (`with_members`: and the person ids behind every figure)."""
    widths = {"age": float(request.age_bin_width)} | {f"lab:{lab.name}": lab.bin_width for lab in request.labs}
    lab_units = [(f"labs[{i}].unit", lab.unit) for i, lab in enumerate(request.labs) if lab.unit is not None]
    # Each stage is computed once into a temporary table that the next queries read.
    with ExitStack() as stack:
        backend = stack.enter_context(ibis_session(store))
        compiled = build_cohort(backend, definition, site=site)
        sets, units = resolve_concept_sets(backend, request.concept_sets, site=site, extra_refs=lab_units)
        events = stack.enter_context(materialised(backend, compiled.events, "events"))
        entries = compiled.entries(events).select(*KEY, "op_end", "age", "gender_concept_id")
        cohort = stack.enter_context(materialised(backend, entries, "entries"))
        by_sex = _sex_counts(backend, cohort)
        comorbidities = _comorbidities(backend, cohort, request, sets)
        values = stack.enter_context(materialised(backend, _values(backend, cohort, request, sets, units), "values"))
        summaries = _summaries(values, widths)
        members = table_one_members(backend, cohort, values, request, sets, summaries) if with_members else None
    labs = {lab.name: summaries[f"lab:{lab.name}"] for lab in request.labs}
    return RawTableOne(
        n=sum(by_sex.values()),
        age=summaries["age"],
        sex=by_sex,
        comorbidities=comorbidities,
        labs=labs,
        members=members,
    )


class CountRow(BaseModel):
    """Persons with a characteristic."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    persons: ProtectedCount


class LabRow(BaseModel):
    """A lab's latest value at index, summarised."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    unit: str | None
    summary: NumericSummary


class TableOne(BaseModel):
    """What leaves a site for a characterisation: protected counts and thresholded statistics only."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["dari-table-one/1"] = "dari-table-one/1"
    site: str
    definition_name: str
    definition_digest: str
    request_digest: str
    rules: DisclosureRules
    n: ProtectedCount
    age: NumericSummary = Field(description="age at index in years (year of index minus year of birth)")
    sex: list[CountRow]
    comorbidities: list[CountRow]
    labs: list[LabRow]


def protect_table_one(
    raw: RawTableOne,
    definition: CohortDefinition,
    request: TableOneRequest,
    *,
    site: str,
    rules: DisclosureRules,
    ledger: ReleaseLedger | None = None,
) -> TableOne:
    """Apply disclosure control to every figure of a raw Table 1 (under `ledger`: noisy, recorded, maybe refused)."""
    if ledger is None:
        return _protected(raw, definition, request, site, rules, None)
    if raw.members is None:
        raise InputError("a Table 1 release under the ledger needs the persons behind its figures")
    with ledger.release() as release:
        return _protected(raw, definition, request, site, rules, release)


def _protected(
    raw: RawTableOne,
    definition: CohortDefinition,
    request: TableOneRequest,
    site: str,
    rules: DisclosureRules,
    release: Release | None,
) -> TableOne:
    members = raw.members or {}

    def count(key: str, n: int) -> ProtectedCount:
        return protect_count(n, rules) if release is None else release.count(key, members[key])

    return TableOne(
        site=site,
        definition_name=definition.name,
        definition_digest=definition.digest(),
        request_digest=request.digest(),
        rules=rules,
        n=count("n", raw.n),
        age=protect_numeric(raw.age, rules, release=release, key="age"),
        sex=[CountRow(name=s, persons=count(f"sex:{s}", n)) for s, n in raw.sex.items()],
        comorbidities=[CountRow(name=c, persons=count(f"comorbidity:{c}", n)) for c, n in raw.comorbidities.items()],
        labs=[
            LabRow(
                name=lab.name,
                unit=lab.unit.concept_code if lab.unit else None,
                summary=protect_numeric(raw.labs[lab.name], rules, release=release, key=f"lab:{lab.name}"),
            )
            for lab in request.labs
        ],
    )


def table_one(
    store: CdmStore,
    definition: CohortDefinition,
    request: TableOneRequest,
    *,
    site: str,
    rules: DisclosureRules | None = None,
    ledger: ReleaseLedger | None = None,
) -> TableOne:
    """Table 1 of the cohort at this site, every figure disclosure-controlled (under `ledger`, a federated
    characterisation's: keyed noise, recorded, refused when it differences an earlier release)."""
    raw = unprotected_table_one(store, definition, request, site=site, with_members=ledger is not None)
    return protect_table_one(raw, definition, request, site=site, rules=rules or DisclosureRules(), ledger=ledger)
