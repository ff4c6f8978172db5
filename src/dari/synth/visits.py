"""Visits of a chunk of synthetic patients: how often, when, what kind, which department."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from dari.synth.calendar import DATA_END, add_days, years_between
from dari.synth.catalogue import CONDITIONS
from dari.synth.population import Population
from dari.synth.sites import SiteProfile

OUTPATIENT, INPATIENT, EMERGENCY = 0, 1, 2
VISIT_TYPE_LABELS = ("외래", "입원", "응급")  # as Korean EMRs label them
_CANCER_OR_HF = [i for i, c in enumerate(CONDITIONS) if c.group == "cancer" or c.key == "heart_failure"]


@dataclass(frozen=True, slots=True)
class Visits:
    """Visit rows, sorted by person then start date."""

    person: np.ndarray  # index into the chunk's Population
    start: np.ndarray  # datetime64[D]
    end: np.ndarray  # datetime64[D]
    kind: np.ndarray  # OUTPATIENT / INPATIENT / EMERGENCY
    department: np.ndarray  # str
    forced: np.ndarray  # bool: a follow-up the kidney ground truth required
    creatinine: np.ndarray  # bool: creatinine (and so eGFR) measured at the visit

    @property
    def n(self) -> int:
        """Number of visits."""
        return int(self.person.shape[0])


def _departments(pop: Population, rng: np.random.Generator) -> np.ndarray:
    # A patient's usual department: that of one of their conditions, chosen at random, else family medicine.
    k = len(CONDITIONS)
    score = np.where(pop.has, rng.random((pop.n, k)) + 1.0, 0.0)
    best = score.argmax(axis=1)
    names = np.array([c.department for c in CONDITIONS], dtype=object)
    return np.where(pop.has.any(axis=1), names[best], "가정의학과")


def draw_visits(pop: Population, profile: SiteProfile, rng: np.random.Generator) -> Visits:
    """Draw each patient's visits between their first and last planned visit."""
    years = years_between(pop.first_visit, pop.last_visit)
    rate = profile.visit_intensity * (1.5 + 1.0 * pop.has.sum(axis=1))
    extra = rng.poisson(np.minimum(rate * years, 60.0))
    counts = 1 + extra
    person = np.repeat(np.arange(pop.n), counts)
    span = (pop.last_visit - pop.first_visit).astype(np.int64)[person]
    offset = np.floor(rng.random(person.shape[0]) * (span + 1)).astype(np.int64)
    first_of_person = np.r_[0, np.cumsum(counts)[:-1]]
    offset[first_of_person] = 0
    start = pop.first_visit[person] + offset.astype("timedelta64[D]")
    return _finish(pop, profile, person, start, np.zeros(person.shape[0], dtype=bool), rng)


def add_forced_visits(
    visits: Visits,
    pop: Population,
    profile: SiteProfile,
    person: np.ndarray,
    dates: np.ndarray,
    rng: np.random.Generator,
) -> Visits:
    """Add nephrology follow-ups on given dates (the ground truth needs them) and re-sort."""
    if person.size == 0:
        return visits
    new = _finish(
        pop,
        profile,
        person,
        dates,
        np.ones(person.shape[0], dtype=bool),
        rng,
        department="신장내과",
        outpatient_only=True,
    )
    names = [f.name for f in fields(Visits)]
    merged = {f: np.concatenate([getattr(visits, f), getattr(new, f)]) for f in names}
    order = np.lexsort((merged["start"], merged["person"]))
    return Visits(**{f: merged[f][order] for f in names})


def _finish(
    pop: Population,
    profile: SiteProfile,
    person: np.ndarray,
    start: np.ndarray,
    forced: np.ndarray,
    rng: np.random.Generator,
    *,
    department: str | None = None,
    outpatient_only: bool = False,
) -> Visits:
    n = person.shape[0]
    sick = np.asarray(pop.has[:, _CANCER_OR_HF].any(axis=1))[person]
    u = rng.random(n)
    p_ip = profile.inpatient_share * np.where(sick, 1.8, 1.0)
    kind = np.where(u < p_ip, INPATIENT, np.where(u < p_ip + 0.07, EMERGENCY, OUTPATIENT))
    if outpatient_only:
        kind[:] = OUTPATIENT
    los = np.where(kind == INPATIENT, 1 + rng.geometric(1 / 6.0, n), 0)
    end = np.minimum(add_days(start, los), DATA_END)
    if department is None:
        dept = _departments(pop, rng)[person]
        dept = np.where(kind == EMERGENCY, "응급의학과", dept)
    else:
        dept = np.full(n, department, dtype=object)
    order = np.lexsort((start, person))
    return Visits(
        person=person[order],
        start=start[order],
        end=end[order],
        kind=kind[order],
        department=np.asarray(dept)[order],
        forced=forced[order],
        creatinine=forced[order].copy(),
    )


def first_per_person(visits: Visits, mask: np.ndarray, n_people: int) -> np.ndarray:
    """Index of each person's first visit among those where `mask` holds (-1 where none)."""
    out = np.full(n_people, -1, dtype=np.int64)
    idx = np.flatnonzero(mask)
    # visits are sorted by person then date, so the first occurrence of a person is their earliest visit
    persons, first = np.unique(visits.person[idx], return_index=True)
    out[persons] = idx[first]
    return out
