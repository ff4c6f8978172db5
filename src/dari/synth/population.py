"""Patient-level truth of a synthetic hospital: demographics, risk factors and chronic conditions.

Every quantity is drawn for a whole chunk of patients at once with numpy; nothing loops over patients.
Prevalences follow logistic models of age, sex, a shared metabolic factor and smoking, so that conditions
co-occur as they do in Korean hospital populations (diabetes with hypertension and dyslipidaemia, heart
failure with atrial fibrillation, ...). The coefficients are documented in docs/synthetic-data.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dari.synth.calendar import DATA_END, DATA_START, DAYS_PER_YEAR, add_days
from dari.synth.catalogue import CONDITION_INDEX, CONDITIONS
from dari.synth.sites import SiteProfile

# Age structure of a Korean general hospital's patients (5-year bands 0-4 … 95-99), adults weighted
# toward 50-79 as in HIRA's utilisation statistics; children are set apart by the site's paediatric share.
_ADULT_BAND_WEIGHTS = np.array([3, 4, 5, 6, 7, 8, 9, 10, 11, 11, 10, 8, 6, 4, 2, 0.6], dtype=np.float64)
_ADULT_BAND_START = 20

# (intercept, per year of age, male, metabolic factor, smoking) on the log-odds scale.
_LOGIT: dict[str, tuple[float, float, float, float, float]] = {
    "hypertension": (-6.2, 0.085, 0.3, 0.5, 0.0),
    "t2dm": (-6.6, 0.07, 0.3, 0.9, 0.2),
    "t1dm": (-6.0, 0.0, 0.0, 0.0, 0.0),
    "dyslipidaemia": (-5.0, 0.055, 0.0, 0.7, 0.0),
    "obesity": (-3.5, 0.0, 0.2, 1.2, 0.0),
    "heart_failure": (-10.0, 0.085, 0.2, 0.2, 0.0),
    "atrial_fibrillation": (-10.2, 0.085, 0.4, 0.0, 0.0),
    "mi": (-10.0, 0.06, 0.7, 0.3, 0.8),
    "stroke": (-9.8, 0.065, 0.2, 0.2, 0.5),
    "copd": (-10.0, 0.07, 0.5, 0.0, 2.0),
    "stomach_cancer": (-8.3, 0.04, 0.7, 0.0, 0.4),
    "colorectal_cancer": (-8.6, 0.045, 0.4, 0.2, 0.2),
    "lung_cancer": (-10.0, 0.06, 0.5, 0.0, 1.5),
    "breast_cancer": (-5.5, 0.02, -30.0, 0.0, 0.0),
    "liver_cancer": (-9.0, 0.04, 0.9, 0.0, 0.0),
    "thyroid_cancer": (-4.8, 0.0, -1.2, 0.0, 0.0),
}
# Extra log-odds from conditions drawn earlier in CONDITIONS order.
_COMORBIDITY: dict[str, tuple[tuple[str, float], ...]] = {
    "dyslipidaemia": (("t2dm", 0.6), ("hypertension", 0.3)),
    "heart_failure": (("hypertension", 0.9), ("t2dm", 0.6)),
    "atrial_fibrillation": (("hypertension", 0.4), ("heart_failure", 0.9)),
    "mi": (("t2dm", 0.6), ("hypertension", 0.5), ("dyslipidaemia", 0.4)),
    "stroke": (("hypertension", 0.8), ("atrial_fibrillation", 0.8)),
}
_ADULT_ONLY = {c.key for c in CONDITIONS} - {"t1dm"}


@dataclass(frozen=True, slots=True)
class Population:
    """One chunk of synthetic patients: arrays of equal length n."""

    female: np.ndarray  # bool
    birth_date: np.ndarray  # datetime64[D]
    age_at_end: np.ndarray  # float years at DATA_END
    smoker: np.ndarray  # bool
    metabolic: np.ndarray  # latent metabolic factor, N(0, 1)
    has: np.ndarray  # bool [n, len(CONDITIONS)]
    onset: np.ndarray  # datetime64[D] [n, len(CONDITIONS)]; meaningful where `has`
    regimen: np.ndarray  # int [n, len(CONDITIONS)]: index of the drug regimen chosen per condition
    first_visit: np.ndarray  # datetime64[D]
    last_visit: np.ndarray  # datetime64[D]: planned end of follow-up (before death is applied)

    @property
    def n(self) -> int:
        """Number of patients in the chunk."""
        return int(self.female.shape[0])

    def condition(self, key: str) -> np.ndarray:
        """Whether each patient has the condition `key` (at any time)."""
        return np.asarray(self.has[:, CONDITION_INDEX[key]])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _draw_ages(n: int, profile: SiteProfile, rng: np.random.Generator) -> np.ndarray:
    child = rng.random(n) < profile.paediatric_share
    weights = _ADULT_BAND_WEIGHTS / _ADULT_BAND_WEIGHTS.sum()
    band = rng.choice(len(weights), size=n, p=weights)
    adult_age = _ADULT_BAND_START + 5.0 * band + rng.random(n) * 5.0 + profile.age_shift_years
    ages = np.where(child, rng.random(n) * 18.0, np.clip(adult_age, 18.0, 104.0))
    return np.asarray(ages)


def draw_population(n: int, profile: SiteProfile, rng: np.random.Generator) -> Population:
    """Draw `n` patients for one site: who they are, what they have, and when they are seen."""
    female = rng.random(n) < 0.53
    age = _draw_ages(n, profile, rng)
    birth = add_days(np.full(n, DATA_END), -age * DAYS_PER_YEAR)
    smoker = rng.random(n) < np.where(female, 0.05, 0.35) * (age >= 18)
    metabolic = rng.standard_normal(n)

    k = len(CONDITIONS)
    has = np.zeros((n, k), dtype=bool)
    for j, cond in enumerate(CONDITIONS):
        b0, b_age, b_male, b_met, b_smoke = _LOGIT[cond.key]
        logit = (
            b0
            + b_age * age
            + b_male * ~female
            + b_met * metabolic
            + b_smoke * smoker
            + np.log(profile.odds_for(cond.group))
        )
        for other, beta in _COMORBIDITY.get(cond.key, ()):
            logit = logit + beta * has[:, CONDITION_INDEX[other]]
        p = _sigmoid(logit)
        if cond.key in _ADULT_ONLY:
            p = np.where(age >= 18, p, 0.0)
        has[:, j] = rng.random(n) < p

    # Onset: somewhere in the 25 years before the end of data, never before age 18 for adult diseases.
    earliest_age = np.where(np.isin(np.arange(k), [CONDITION_INDEX["t1dm"]]), 1.0, 18.0)
    lo = np.maximum(age[:, None] - 25.0, earliest_age[None, :])
    onset_age = lo + rng.random((n, k)) * np.maximum(age[:, None] - lo, 0.0)
    onset = add_days(birth[:, None], onset_age * DAYS_PER_YEAR)
    regimen = rng.integers(0, 1 << 30, size=(n, k))
    for j, cond in enumerate(CONDITIONS):
        regimen[:, j] %= max(len(cond.drugs), 1)

    # Follow-up: one-off visitors, and patients kept longer the more chronic disease they carry.
    n_chronic = has.sum(axis=1)
    span_days = (DATA_END - DATA_START).astype(np.int64)
    first = add_days(np.full(n, DATA_START), rng.random(n) * (span_days - 30))
    first = np.minimum(np.maximum(first, birth), DATA_END)  # infants are first seen after they are born
    follow_years = rng.exponential(1.5 + 1.0 * n_chronic)
    one_off = rng.random(n) < np.where(n_chronic == 0, 0.45, 0.1)
    last = add_days(first, np.where(one_off, 0.0, follow_years * DAYS_PER_YEAR))
    last = np.maximum(np.minimum(last, DATA_END), first)
    return Population(
        female=female,
        birth_date=birth,
        age_at_end=age,
        smoker=smoker,
        metabolic=metabolic,
        has=has,
        onset=onset,
        regimen=regimen,
        first_visit=first,
        last_visit=last,
    )
