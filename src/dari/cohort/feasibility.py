"""Feasibility counts of a cohort definition at a site (protected) and pooled across sites.

A site runs `feasibility` and gets back a `FeasibilityResult` whose every count already went through
`dari.disclosure.protect_count`: persons at index, the attrition after each step (remaining and lost),
and the cohort by sex and by age band. `unprotected_feasibility` holds the raw counts; it is for the site's own
use and tests, never to be sent. `pool_feasibility` adds sites' protected results at the hub.

Under a site's release ledger (`feasibility(..., ledger=...)`, what a federated query does), every count is the
protected count of its person set with the set's consistent keyed noise (`dari.federation.ledger`), and the
release is refused when one of those sets differs from an earlier release's by a few persons.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import ibis  # type: ignore[import-untyped]
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dari.cdm.concepts import SEXES
from dari.cdm.store import CdmStore
from dari.cohort.backend import ibis_session, materialised
from dari.cohort.compile import build_cohort
from dari.cohort.definition import CohortDefinition
from dari.cohort.members import person_sexes
from dari.cohort.pooling import PooledCount, pool_counts
from dari.cohort.resolve import sex_labels
from dari.disclosure import DisclosureRules, ProtectedCount, protect_count
from dari.errors import InputError

if TYPE_CHECKING:
    from dari.federation.ledger import ReleaseLedger

AGE_CAP = 90  # the last band is open ("90+"): exact old ages identify people


@dataclass(frozen=True)
class RawFeasibility:
    """Unprotected counts: site-internal only (tests, local review); never leaves the site."""

    steps: tuple[str, ...]
    index_steps: int
    remaining: tuple[int, ...]
    by_sex: dict[str, int]
    by_age_band: dict[str, int]
    # cell -> person ids behind it (`with_members`): "remaining[k]", "lost[k]", "sex:F", "age:60-69"
    members: dict[str, np.ndarray[Any, Any]] | None = None


def age_band_labels(width: int) -> list[str]:
    """Bands of `width` years from 0 up to 90, then "90+"."""
    return [f"{lo}-{lo + width - 1}" for lo in range(0, AGE_CAP, width)] + [f"{AGE_CAP}+"]


def _band(age: int, width: int) -> str:
    if age >= AGE_CAP:
        return f"{AGE_CAP}+"
    lo = max(age, 0) // width * width  # an age below 0 (birth year after index) is a data error; count it in 0-
    return f"{lo}-{lo + width - 1}"


def unprotected_feasibility(
    store: CdmStore,
    definition: CohortDefinition,
    *,
    site: str,
    age_band_years: Literal[5, 10] = 10,
    with_members: bool = False,
) -> RawFeasibility:
    """Exact counts at this site: persons remaining after each attrition step, and the cohort by sex and age
    (`with_members`: also the person ids behind each count, for the release ledger)."""
    members: dict[str, np.ndarray[Any, Any]] | None = None
    # The events are computed once; the totals and the strata then read the small temporary table.
    with ibis_session(store) as backend:
        compiled = build_cohort(backend, definition, site=site)
        k_steps = range(len(compiled.steps))
        with materialised(backend, compiled.events, "events") as ev:
            per_person = ev.group_by("person_id").agg(**{f"s{k}": ev[f"step_{k}"].any() for k in k_steps})
            # ifelse, not a cast: PostgreSQL refuses CAST(boolean AS BIGINT), which is what Ibis writes for int64.
            totals = per_person.agg(**{f"s{k}": per_person[f"s{k}"].ifelse(1, 0).sum() for k in k_steps})
            row = totals.to_pyarrow().to_pylist()[0]
            cohort = compiled.entries(ev)
            strata = cohort.group_by("age", "gender_concept_id").agg(n=ibis._.count()).to_pyarrow().to_pylist()
            if with_members:
                flags = per_person.to_pyarrow()
                persons = cohort.select("person_id", "age", "gender_concept_id").to_pyarrow()
        genders = [int(s["gender_concept_id"]) for s in strata if s["gender_concept_id"] is not None]
        labels = sex_labels(backend, genders)
    if with_members:
        members = _members(flags, persons, len(compiled.steps), labels, age_band_years)
    remaining = tuple(int(row[f"s{k}"] or 0) for k in k_steps)
    by_sex = dict.fromkeys(SEXES, 0)
    by_age = dict.fromkeys(age_band_labels(age_band_years), 0)
    for s in strata:
        sex = labels.get(int(s["gender_concept_id"]), "unknown") if s["gender_concept_id"] is not None else "unknown"
        by_sex[sex if sex in by_sex else "unknown"] += int(s["n"])
        by_age[_band(int(s["age"]), age_band_years)] += int(s["n"])
    return RawFeasibility(
        steps=compiled.steps,
        index_steps=len(compiled.steps) - len(definition.inclusion_rules),
        remaining=remaining,
        by_sex=by_sex,
        by_age_band=by_age,
        members=members,
    )


def _members(
    flags: Any, persons: Any, steps: int, labels: dict[int, str], width: int
) -> dict[str, np.ndarray[Any, Any]]:
    """The person ids behind every count of a feasibility result."""
    pid = flags["person_id"].to_numpy(zero_copy_only=False).astype(np.int64)
    inside = [flags[f"s{k}"].fill_null(False).to_numpy(zero_copy_only=False).astype(bool) for k in range(steps)]
    out = {f"remaining[{k}]": pid[inside[k]] for k in range(steps)}
    out |= {f"lost[{k}]": pid[inside[k - 1] & ~inside[k]] for k in range(1, steps)}
    ids = persons["person_id"].to_numpy(zero_copy_only=False).astype(np.int64)
    sexes = person_sexes(persons["gender_concept_id"].to_pylist(), labels)
    bands = np.array([_band(int(a), width) for a in persons["age"].to_pylist()], dtype=object)
    out |= {f"sex:{s}": ids[sexes == s] for s in SEXES}
    out |= {f"age:{b}": ids[bands == b] for b in age_band_labels(width)}
    return out


class AttritionStep(BaseModel):
    """Persons still in after a step, and persons the step removed (None for the first step)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    remaining: ProtectedCount
    lost: ProtectedCount | None


class StratumCount(BaseModel):
    """Cohort persons in one stratum (a sex, or an age band)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    stratum: str
    persons: ProtectedCount


class FeasibilityResult(BaseModel):
    """What leaves a site for a feasibility query: protected counts only."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["dari-feasibility/1"] = "dari-feasibility/1"
    site: str
    definition_name: str
    definition_digest: str
    rules: DisclosureRules
    index_persons: ProtectedCount = Field(description="persons with an index event meeting all index criteria")
    cohort_persons: ProtectedCount = Field(description="persons meeting every inclusion rule")
    attrition: list[AttritionStep]
    age_band_years: int
    by_sex: list[StratumCount]
    by_age_band: list[StratumCount]


def protect_feasibility(
    raw: RawFeasibility,
    definition: CohortDefinition,
    *,
    site: str,
    rules: DisclosureRules,
    age_band_years: int,
    ledger: ReleaseLedger | None = None,
) -> FeasibilityResult:
    """Apply disclosure control to every count of a raw result (under `ledger`: noisy, recorded, maybe refused)."""
    if ledger is None:
        return _protected(raw, definition, site, rules, age_band_years, lambda _key, n: protect_count(n, rules))
    if raw.members is None:
        raise InputError("a feasibility release under the ledger needs the persons behind its counts")
    members = raw.members
    with ledger.release() as release:
        return _protected(
            raw, definition, site, rules, age_band_years, lambda key, _n: release.count(key, members[key])
        )


def _protected(
    raw: RawFeasibility,
    definition: CohortDefinition,
    site: str,
    rules: DisclosureRules,
    age_band_years: int,
    count: Callable[[str, int], ProtectedCount],
) -> FeasibilityResult:
    attrition = [
        AttritionStep(
            name=name,
            remaining=count(f"remaining[{k}]", n),
            lost=None if k == 0 else count(f"lost[{k}]", raw.remaining[k - 1] - n),
        )
        for k, (name, n) in enumerate(zip(raw.steps, raw.remaining, strict=True))
    ]
    return FeasibilityResult(
        site=site,
        definition_name=definition.name,
        definition_digest=definition.digest(),
        rules=rules,
        index_persons=count(f"remaining[{raw.index_steps - 1}]", raw.remaining[raw.index_steps - 1]),
        cohort_persons=count(f"remaining[{len(raw.steps) - 1}]", raw.remaining[-1]),
        attrition=attrition,
        age_band_years=age_band_years,
        by_sex=[StratumCount(stratum=s, persons=count(f"sex:{s}", n)) for s, n in raw.by_sex.items()],
        by_age_band=[StratumCount(stratum=b, persons=count(f"age:{b}", n)) for b, n in raw.by_age_band.items()],
    )


def feasibility(
    store: CdmStore,
    definition: CohortDefinition,
    *,
    site: str,
    rules: DisclosureRules | None = None,
    age_band_years: Literal[5, 10] = 10,
    ledger: ReleaseLedger | None = None,
) -> FeasibilityResult:
    """Run a cohort definition at this site and return its counts, every one disclosure-controlled (under
    `ledger`, a federated query's: with keyed noise, recorded, refused when it differences an earlier release)."""
    r = rules or DisclosureRules()
    raw = unprotected_feasibility(
        store, definition, site=site, age_band_years=age_band_years, with_members=ledger is not None
    )
    return protect_feasibility(raw, definition, site=site, rules=r, age_band_years=age_band_years, ledger=ledger)


class PooledStep(BaseModel):
    """An attrition step summed over sites."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    remaining: PooledCount
    lost: PooledCount | None


class PooledFeasibility(BaseModel):
    """Feasibility counts summed over sites (from their protected results only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["dari-feasibility-pooled/1"] = "dari-feasibility-pooled/1"
    sites: list[str]
    definition_name: str
    definition_digest: str
    index_persons: PooledCount
    cohort_persons: PooledCount
    attrition: list[PooledStep]
    by_sex: dict[str, PooledCount]
    by_age_band: dict[str, PooledCount]


def _same(results: Sequence[FeasibilityResult]) -> None:
    if not results:
        raise InputError("no site results to pool")
    first = results[0]
    for res in results[1:]:
        if res.definition_digest != first.definition_digest:
            raise InputError(f"site {res.site} ran another definition (digest {res.definition_digest[:12]}…)")
        if [s.name for s in res.attrition] != [s.name for s in first.attrition]:
            raise InputError(f"site {res.site} reports other attrition steps")
        if res.age_band_years != first.age_band_years:
            raise InputError(f"site {res.site} used {res.age_band_years}-year age bands, not {first.age_band_years}")
    sites = [r.site for r in results]
    if len(set(sites)) != len(sites):
        raise InputError(f"a site appears twice among the results: {sites}")


def pool_feasibility(results: Sequence[FeasibilityResult]) -> PooledFeasibility:
    """Sum protected counts across sites; figures that include suppressed cells say so ("≥ n")."""
    _same(results)
    rules = [r.rules for r in results]

    def pooled(pick: list[ProtectedCount]) -> PooledCount:
        return pool_counts(pick, rules)

    steps = [
        PooledStep(
            name=step.name,
            remaining=pooled([r.attrition[k].remaining for r in results]),
            lost=None if k == 0 else pooled([r.attrition[k].lost or protect_count(0) for r in results]),
        )
        for k, step in enumerate(results[0].attrition)
    ]

    def strata(which: Literal["by_sex", "by_age_band"]) -> dict[str, PooledCount]:
        labels = [s.stratum for s in getattr(results[0], which)]
        tables = [{s.stratum: s.persons for s in getattr(r, which)} for r in results]
        return {label: pooled([t[label] for t in tables]) for label in labels}

    return PooledFeasibility(
        sites=[r.site for r in results],
        definition_name=results[0].definition_name,
        definition_digest=results[0].definition_digest,
        index_persons=pooled([r.index_persons for r in results]),
        cohort_persons=pooled([r.cohort_persons for r in results]),
        attrition=steps,
        by_sex=strata("by_sex"),
        by_age_band=strata("by_age_band"),
    )
