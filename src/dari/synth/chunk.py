"""One chunk of a synthetic hospital: patients drawn, their care simulated, rendered as extract tables."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dari.synth import diagnoses as dxm
from dari.synth import kidney, labs
from dari.synth.calendar import DATA_END, OUTCOME_CUTOFF, add_days, years_between
from dari.synth.catalogue import CONDITIONS
from dari.synth.population import Population, draw_population
from dari.synth.sites import SiteProfile
from dari.synth.visits import Visits, add_forced_visits, draw_visits, first_per_person


@dataclass(frozen=True, slots=True)
class SimulatedChunk:
    """Everything simulated for one chunk, before it is rendered into extract tables."""

    pop: Population
    visits: Visits
    course: kidney.KidneyCourse
    death_date: np.ndarray
    dx: dxm.Coded
    rx: dxm.Coded
    days_supply: np.ndarray
    procedures: dxm.Coded
    lab_rows: labs.LabRows
    levels: labs.PatientLabs


def simulate(n: int, profile: SiteProfile, rng: np.random.Generator) -> SimulatedChunk:
    """Simulate `n` patients' care at one site: visits, kidney course, diagnoses, drugs, labs, deaths."""
    pop = draw_population(n, profile, rng)
    visits = draw_visits(pop, profile, rng)
    levels = labs.draw_patient_levels(pop, rng)
    egfr0, slope = kidney.draw_baseline(pop, profile, rng)

    # The cohort is fixed by each patient's first measured eGFR, so measure before the outcome is drawn.
    visits = replace(visits, creatinine=labs.creatinine_ordered(pop, visits, rng))
    first_cr = first_per_person(visits, visits.creatinine, pop.n)
    has_cr = first_cr >= 0
    first_cr_date = np.where(has_cr, visits.start[np.maximum(first_cr, 0)], np.datetime64("NaT", "D"))
    natural = egfr0 - slope * years_between(pop.first_visit, np.where(has_cr, first_cr_date, pop.first_visit))
    first_measured = np.round(kidney.measured(np.clip(natural, 4.0, 150.0), rng))
    first_measured = np.where(has_cr & (first_cr_date <= OUTCOME_CUTOFF), first_measured, np.nan)
    course = kidney.assign_progression(
        pop, profile, egfr0, slope, first_cr_date, first_measured, levels.hba1c, levels.sbp, rng
    )
    progressors = np.flatnonzero(course.outcome)
    visits = add_forced_visits(visits, pop, profile, progressors, course.event_date[progressors], rng)
    first_cr = first_per_person(visits, visits.creatinine, pop.n)
    egfr_true = kidney.true_egfr_at(course, visits.person, visits.start, pop.first_visit)
    egfr_true = kidney.hold_non_progressors(course, visits.person, visits.start, egfr_true)
    egfr_meas = np.round(kidney.measured(egfr_true, np.random.default_rng(rng.integers(1 << 62))))
    egfr_meas = kidney.hold_non_progressors(course, visits.person, visits.start, egfr_meas)
    # The first measurement is the one that defined the cohort; the outcome visit shows eGFR < 30.
    with_first = first_cr >= 0
    egfr_meas[first_cr[with_first]] = np.where(
        np.isnan(first_measured[with_first]), egfr_meas[first_cr[with_first]], first_measured[with_first]
    )
    egfr_meas = np.where(visits.forced, np.minimum(egfr_meas, 29.0), egfr_meas)
    egfr_meas = np.clip(egfr_meas, 3.0, 150.0)

    death_date = _draw_deaths(pop, visits, egfr_true, rng)
    dx, dx_condition = dxm.draw_diagnoses(pop, visits, egfr_true, profile, rng)
    rx, days = dxm.draw_prescriptions(pop, visits, dx, dx_condition, rng)
    procedures = dxm.draw_procedures(pop, visits, egfr_true, rng)
    protected = visits.forced.copy()
    protected[first_cr[first_cr >= 0]] = True
    lab_rows = labs.draw_labs(pop, visits, levels, egfr_meas, protected, profile, rng)
    return SimulatedChunk(
        pop=pop,
        visits=visits,
        course=course,
        death_date=death_date,
        dx=dx,
        rx=rx,
        days_supply=days,
        procedures=procedures,
        lab_rows=lab_rows,
        levels=levels,
    )


def _draw_deaths(pop: Population, visits: Visits, egfr_true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Death after the last visit for some: older, heart failure, cancer, kidney failure raise the risk."""
    last = np.full(pop.n, -1, dtype=np.int64)
    last[visits.person] = np.arange(visits.n)  # visits sorted by person then date: last write wins
    last_end = visits.end[last]
    min_egfr = np.full(pop.n, 200.0)
    np.minimum.at(min_egfr, visits.person, egfr_true)
    cancer = pop.has[:, [i for i, c in enumerate(CONDITIONS) if c.group == "cancer"]].any(axis=1)
    logit = -8.0 + 0.07 * pop.age_at_end + 1.2 * pop.condition("heart_failure") + 1.6 * cancer + 1.2 * (min_egfr < 15)
    dies = rng.random(pop.n) < 1.0 / (1.0 + np.exp(-logit))
    date = np.minimum(add_days(last_end, rng.uniform(0, 90, pop.n)), DATA_END)
    return np.where(dies, date, np.datetime64("NaT", "D"))
