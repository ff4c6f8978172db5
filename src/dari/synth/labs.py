"""Laboratory results and vital signs at each visit, with values that track each patient's disease.

Creatinine and eGFR agree through the CKD-EPI 2021 equation (race-free; Inker et al., NEJM 2021):
eGFR = 142 · min(Scr/κ, 1)^α · max(Scr/κ, 1)^−1.200 · 0.9938^age · 1.012 [female],
κ = 0.7 (female) or 0.9 (male), α = −0.241 (female) or −0.302 (male), Scr in mg/dL.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dari.synth.calendar import years_between
from dari.synth.catalogue import LAB_INDEX, LABS, reported
from dari.synth.population import Population
from dari.synth.sites import SiteProfile
from dari.synth.visits import INPATIENT, OUTPATIENT, Visits


def ckd_epi_2021(scr_mgdl: np.ndarray, age: np.ndarray, female: np.ndarray) -> np.ndarray:
    """eGFR (mL/min/1.73 m²) from serum creatinine by CKD-EPI 2021."""
    kappa = np.where(female, 0.7, 0.9)
    alpha = np.where(female, -0.241, -0.302)
    ratio = scr_mgdl / kappa
    return np.asarray(
        142.0
        * np.minimum(ratio, 1.0) ** alpha
        * np.maximum(ratio, 1.0) ** -1.200
        * 0.9938**age
        * np.where(female, 1.012, 1.0)
    )


def creatinine_for_egfr(egfr: np.ndarray, age: np.ndarray, female: np.ndarray) -> np.ndarray:
    """Serum creatinine (mg/dL) that CKD-EPI 2021 turns into `egfr`: the equation solved for Scr."""
    kappa = np.where(female, 0.7, 0.9)
    alpha = np.where(female, -0.241, -0.302)
    at_kappa = 142.0 * 0.9938**age * np.where(female, 1.012, 1.0)  # eGFR when Scr = κ
    low_scr = egfr > at_kappa
    ratio = np.where(low_scr, (egfr / at_kappa) ** (1.0 / alpha), (egfr / at_kappa) ** (-1.0 / 1.200))
    return np.asarray(kappa * ratio)


@dataclass(frozen=True, slots=True)
class PatientLabs:
    """Each patient's usual level of the labs that vary between people."""

    hba1c: np.ndarray
    sbp: np.ndarray
    ldl: np.ndarray
    bmi: np.ndarray


def draw_patient_levels(pop: Population, rng: np.random.Generator) -> PatientLabs:
    """Patient-level means: glycaemia from diabetes, blood pressure from age and hypertension, etc."""
    dm = pop.condition("t2dm") | pop.condition("t1dm")
    hba1c = np.where(
        dm, np.clip(rng.normal(7.3, 1.1, pop.n), 5.8, 13.5), np.clip(rng.normal(5.45, 0.3, pop.n), 4.3, 6.4)
    )
    age = pop.age_at_end
    sbp = 118.0 + 0.35 * (age - 50.0) + 10.0 * pop.condition("hypertension") + rng.normal(0, 10, pop.n)
    statin = pop.condition("dyslipidaemia") | pop.condition("mi") | pop.condition("stroke")
    ldl = np.clip(
        rng.normal(118, 30, pop.n) * np.where(statin, 0.62, 1.0) + 25 * pop.condition("dyslipidaemia"),
        25,
        300,
    )
    bmi = np.clip(23.8 + 1.6 * pop.metabolic + 2.5 * pop.condition("obesity") + rng.normal(0, 2.2, pop.n), 14, 48)
    return PatientLabs(hba1c=hba1c, sbp=np.where(age < 18, 105 + rng.normal(0, 8, pop.n), sbp), ldl=ldl, bmi=bmi)


def creatinine_ordered(pop: Population, visits: Visits, rng: np.random.Generator) -> np.ndarray:
    """Whether creatinine (and so eGFR) is measured at each visit."""
    risk = (pop.condition("t2dm") | pop.condition("hypertension") | pop.condition("heart_failure"))[visits.person]
    p = np.where(visits.kind == INPATIENT, 0.95, np.where(risk, 0.6, 0.3))
    return np.asarray((rng.random(visits.n) < p) | visits.forced)


@dataclass(frozen=True, slots=True)
class LabRows:
    """Lab result rows: visit index, lab index into LABS, value (NaN: missing), unit."""

    visit: np.ndarray
    lab: np.ndarray
    value: np.ndarray
    unit: np.ndarray


def draw_labs(
    pop: Population,
    visits: Visits,
    levels: PatientLabs,
    egfr_measured: np.ndarray,
    protected: np.ndarray,
    profile: SiteProfile,
    rng: np.random.Generator,
) -> LabRows:
    """Every lab result of the chunk; creatinine carries the site's unit."""
    p = visits.person
    n = visits.n
    age = years_between(pop.birth_date[p], visits.start)
    female = pop.female[p]
    dm = (pop.condition("t2dm") | pop.condition("t1dm"))[p]
    hf = pop.condition("heart_failure")[p]
    op = visits.kind == OUTPATIENT
    cr_ordered = visits.creatinine
    egfr = egfr_measured
    scr = creatinine_for_egfr(egfr, age, female)
    anaemia = np.where(egfr < 60, 0.05 * (60 - egfr), 0.0)
    bp = op & (rng.random(n) < 0.5)  # systolic and diastolic come from the same reading
    parts: list[tuple[str, np.ndarray, np.ndarray]] = [
        ("creatinine", cr_ordered, scr),
        ("egfr", cr_ordered, egfr),
        ("hba1c", rng.random(n) < np.where(dm, 0.7, 0.06), levels.hba1c[p] + rng.normal(0, 0.35, n)),
        (
            "potassium",
            cr_ordered & (rng.random(n) < 0.6),
            rng.normal(4.3, 0.35, n) + 0.5 * (egfr < 30) + 0.2 * (egfr < 45),
        ),
        ("sodium", cr_ordered & (rng.random(n) < 0.5), rng.normal(140, 2.5, n)),
        (
            "haemoglobin",
            rng.random(n) < np.where(op, 0.25, 0.95),
            np.where(female, rng.normal(12.9, 1.1, n), rng.normal(14.6, 1.3, n)) - anaemia,
        ),
        (
            "ldl",
            rng.random(n) < np.where(pop.condition("dyslipidaemia")[p], 0.5, 0.12),
            levels.ldl[p] * np.exp(rng.normal(0, 0.08, n)),
        ),
        ("glucose", rng.random(n) < 0.2, np.where(dm, 40 + 17 * levels.hba1c[p], 95) + rng.normal(0, 12, n)),
        (
            "ntprobnp",
            rng.random(n) < np.where(hf, 0.5, 0.03),
            np.exp(np.where(hf, np.log(1800), np.log(70)) + rng.normal(0, 0.8, n)),
        ),
        ("sbp", bp, levels.sbp[p] + rng.normal(0, 9, n)),
        ("dbp", bp, 0.55 * levels.sbp[p] + 8 + rng.normal(0, 6, n)),
        ("bmi", op & (rng.random(n) < 0.15), levels.bmi[p] + rng.normal(0, 0.4, n)),
    ]
    visit_parts, lab_parts, value_parts, unit_parts = [], [], [], []
    for key, mask, values in parts:
        lab = LABS[LAB_INDEX[key]]
        idx = np.flatnonzero(mask)
        rep = reported(lab, profile.creatinine_unit)
        vals = np.round(values[idx] * rep.factor, rep.decimals)
        unit = rep.unit
        visit_parts.append(idx)
        lab_parts.append(np.full(idx.shape[0], LAB_INDEX[key]))
        value_parts.append(vals)
        unit_parts.append(np.full(idx.shape[0], unit, dtype=object))
    value = np.concatenate(value_parts)
    visit = np.concatenate(visit_parts)
    # Specimens get rejected now and then; never on the visits the ground truth rests on (`protected`: the
    # first eGFR, which defines the cohort, and the follow-up that shows the outcome).
    value[(rng.random(value.shape[0]) < profile.lab_missing_value_rate) & ~protected[visit]] = np.nan
    order = np.argsort(visit, kind="stable")
    return LabRows(
        visit=visit[order],
        lab=np.concatenate(lab_parts)[order],
        value=value[order],
        unit=np.concatenate(unit_parts)[order],
    )
