"""Kidney function over time and the documented ground truth for 1-year progression to CKD stage 4+.

Each patient carries an eGFR trajectory (mL/min/1.73 m²). The prediction target of the synthetic network is
defined on what a CDM shows, so that a model validated later has a known answer:

* **Cohort (index)**: adults whose first eGFR measurement lies in [30, 60) (CKD G3); index date = that date.
* **Outcome**: any eGFR measurement < 30 in (index, index + 365 days].
* **Generating model**: P(outcome) = sigmoid(β·x) with x and β in `ProgressionModel`; the outcome is drawn
  from it, then the trajectory is bent so that the CDM shows exactly that outcome: a measured eGFR in [20, 30)
  on a follow-up visit for the progressors, measured values held at ≥ 30 during the year for the others.

docs/synthetic-data.md writes the model out; `truth/ckd_progression.csv` at each site holds the true risk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dari.synth.calendar import DAYS_PER_YEAR, add_days, years_between
from dari.synth.population import Population
from dari.synth.sites import SiteProfile

OUTCOME_WINDOW_DAYS = 365
EGFR_MEASUREMENT_CV = 0.06  # combined biological and analytical variation of eGFR


@dataclass(frozen=True, slots=True)
class ProgressionModel:
    """Log-odds coefficients of the true 1-year progression risk (before site shifts)."""

    intercept: float = -2.2
    per_decade_over_65: float = 0.15
    diabetes: float = 0.7
    per_5_egfr_over_45: float = -0.55
    per_hba1c_over_7_if_diabetic: float = 0.25
    heart_failure: float = 0.6
    per_10_sbp_over_130: float = 0.2
    male: float = 0.2

    def logit(
        self,
        *,
        age: np.ndarray,
        diabetic: np.ndarray,
        egfr: np.ndarray,
        hba1c: np.ndarray,
        heart_failure: np.ndarray,
        sbp: np.ndarray,
        male: np.ndarray,
        profile: SiteProfile,
    ) -> np.ndarray:
        """Log-odds of progression for patients at their index date, with the site's shifts applied."""
        return np.asarray(
            self.intercept
            + profile.progression_intercept_shift
            + self.per_decade_over_65 * (age - 65.0) / 10.0
            + self.diabetes * profile.progression_diabetes_effect * diabetic
            + self.per_5_egfr_over_45 * (egfr - 45.0) / 5.0
            + self.per_hba1c_over_7_if_diabetic * (hba1c - 7.0) * diabetic
            + self.heart_failure * heart_failure
            + self.per_10_sbp_over_130 * (sbp - 130.0) / 10.0
            + self.male * male
        )


TRUE_MODEL = ProgressionModel()


@dataclass(frozen=True, slots=True)
class KidneyCourse:
    """Per-patient kidney trajectory parameters, with the index and outcome where a patient qualifies."""

    egfr0: np.ndarray  # eGFR at first visit
    slope: np.ndarray  # natural decline, mL/min per year
    index_date: np.ndarray  # datetime64[D]; NaT where the patient is not in the cohort
    egfr_index: np.ndarray  # measured eGFR at index (NaN outside the cohort)
    true_risk: np.ndarray  # P(outcome) (NaN outside the cohort)
    outcome: np.ndarray  # bool
    event_date: np.ndarray  # datetime64[D]; the follow-up visit showing eGFR < 30 (NaT where none)
    post_slope: np.ndarray  # decline after index


def draw_baseline(pop: Population, profile: SiteProfile, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """eGFR at the first visit and the natural yearly decline, from age and cardiometabolic disease."""
    age_first = years_between(pop.birth_date, pop.first_visit)
    dm = pop.condition("t2dm") | pop.condition("t1dm")
    htn = pop.condition("hypertension")
    hf = pop.condition("heart_failure")
    egfr0 = (
        115.0
        - 0.85 * np.maximum(age_first - 25.0, 0.0)
        - 7.0 * dm
        - 5.0 * htn
        - 6.0 * hf
        - 6.0 * np.log(profile.odds_for("ckd"))
        + rng.normal(0.0, 13.0, pop.n)
    )
    egfr0 = np.clip(egfr0, 6.0, 140.0)
    slope = 0.8 + 1.2 * dm + 0.8 * htn + 1.5 * (egfr0 < 60) + np.abs(rng.normal(0.0, 0.8, pop.n))
    return np.asarray(egfr0), np.asarray(slope)


def measured(true_egfr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A measurement of eGFR around its true value (multiplicative noise)."""
    return np.asarray(true_egfr * np.exp(rng.normal(0.0, EGFR_MEASUREMENT_CV, true_egfr.shape)))


def assign_progression(
    pop: Population,
    profile: SiteProfile,
    egfr0: np.ndarray,
    slope: np.ndarray,
    first_cr_date: np.ndarray,
    first_cr_measured: np.ndarray,
    hba1c_mean: np.ndarray,
    sbp_mean: np.ndarray,
    rng: np.random.Generator,
) -> KidneyCourse:
    """Pick the cohort from each patient's first measured eGFR, draw outcomes from the true model."""
    n = pop.n
    has_cr = ~np.isnat(first_cr_date)
    age_idx = years_between(pop.birth_date, np.where(has_cr, first_cr_date, pop.first_visit))
    in_cohort = has_cr & (age_idx >= 18.0) & (first_cr_measured >= 30.0) & (first_cr_measured < 60.0)
    dm = pop.condition("t2dm") | pop.condition("t1dm")
    logit = TRUE_MODEL.logit(
        age=age_idx,
        diabetic=dm.astype(float),
        egfr=first_cr_measured,
        hba1c=hba1c_mean,
        heart_failure=pop.condition("heart_failure").astype(float),
        sbp=sbp_mean,
        male=(~pop.female).astype(float),
        profile=profile,
    )
    risk = 1.0 / (1.0 + np.exp(-logit))
    outcome = in_cohort & (rng.random(n) < risk)
    tau_years = rng.uniform(0.15, 0.95, n)
    event_date = np.where(outcome, add_days(first_cr_date, tau_years * DAYS_PER_YEAR), np.datetime64("NaT", "D"))
    target = rng.uniform(21.0, 29.0, n)
    post_slope = np.where(outcome, (first_cr_measured - target) / tau_years, slope)
    return KidneyCourse(
        egfr0=egfr0,
        slope=slope,
        index_date=np.where(in_cohort, first_cr_date, np.datetime64("NaT", "D")),
        egfr_index=np.where(in_cohort, first_cr_measured, np.nan),
        true_risk=np.where(in_cohort, risk, np.nan),
        outcome=outcome,
        event_date=event_date,
        post_slope=np.asarray(post_slope),
    )


def true_egfr_at(course: KidneyCourse, person: np.ndarray, dates: np.ndarray, first_visit: np.ndarray) -> np.ndarray:
    """The true eGFR of `person[i]` on `dates[i]`: natural decline, bent after the index date."""
    idx_date = course.index_date[person]
    in_cohort = ~np.isnat(idx_date)
    before = course.egfr0[person] - course.slope[person] * years_between(first_visit[person], dates)
    after_idx = np.where(in_cohort & (dates > idx_date), 1.0, 0.0)
    since_idx = years_between(np.where(in_cohort, idx_date, dates), dates)
    after = course.egfr_index[person] - course.post_slope[person] * since_idx
    value = np.where(after_idx > 0, after, before)
    return np.asarray(np.clip(value, 4.0, 150.0))


def hold_non_progressors(course: KidneyCourse, person: np.ndarray, dates: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Keep measured eGFR ≥ 30 inside the outcome window of cohort members without the outcome."""
    idx_date = course.index_date[person]
    window = (
        ~np.isnat(idx_date)
        & (dates > idx_date)
        & (dates <= idx_date + np.timedelta64(OUTCOME_WINDOW_DAYS, "D"))
        & ~course.outcome[person]
    )
    return np.where(window, np.maximum(values, 30.0 + 0.5 * (values < 30)), values)
