"""Diagnoses, prescriptions and procedures recorded at each visit, with each site's coding habits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dari.synth.catalogue import (
    CKD_STAGE_CODES,
    CKD_UNSPECIFIED,
    CONDITION_INDEX,
    CONDITIONS,
    HAEMODIALYSIS_CODE,
    HYPERTENSIVE_CKD,
    PROCEDURES,
    T2DM_WITH_KIDNEY_COMPLICATIONS,
)
from dari.synth.population import Population
from dari.synth.sites import SiteProfile
from dari.synth.visits import OUTPATIENT, Visits

# Diagnoses for visits of patients without a chronic condition (acute, everyday reasons to see a doctor).
ACUTE_CODES = ("J06.9", "K29.7", "M54.5", "R10.4", "J20.9", "A09.9", "R51")
DAYS_SUPPLY = np.array([28, 30, 56, 60, 84, 90])
DAYS_SUPPLY_P = np.array([0.15, 0.3, 0.1, 0.15, 0.1, 0.2])


@dataclass(frozen=True, slots=True)
class Coded:
    """Rows of coded events: the visit each belongs to and the source code recorded."""

    visit: np.ndarray  # index into Visits
    code: np.ndarray  # str
    primary: np.ndarray  # bool (diagnoses); unused elsewhere


def ckd_stage(egfr: np.ndarray) -> np.ndarray:
    """KDIGO G-stage (1–5) of an eGFR; G3a and G3b both give 3, as KCD-8 codes N18.3."""
    return np.asarray(np.select([egfr >= 90, egfr >= 60, egfr >= 30, egfr >= 15], [1, 2, 3, 4], 5))


def style_codes(codes: np.ndarray, profile: SiteProfile, rng: np.random.Generator) -> np.ndarray:
    """Write KCD codes the way the site's coders do: with a dot, without, or often only 3 characters."""
    if profile.kcd_style == "undotted":
        return np.char.replace(codes.astype(str), ".", "").astype(object)
    if profile.kcd_style == "three_char":
        short = rng.random(codes.shape[0]) < 0.5
        return np.where(short, np.char.partition(codes.astype(str), ".")[:, 0], codes).astype(object)
    return codes.astype(object)


def draw_diagnoses(
    pop: Population, visits: Visits, egfr_true: np.ndarray, profile: SiteProfile, rng: np.random.Generator
) -> tuple[Coded, np.ndarray]:
    """Conditions coded at each visit; returns the rows and the condition index of each row (-1: CKD/acute)."""
    active = pop.has[visits.person] & (pop.onset[visits.person] <= visits.start[:, None])
    p_code = np.where(visits.kind == OUTPATIENT, profile.coding_completeness, 0.9)
    coded = active & (rng.random(active.shape) < p_code[:, None])
    v_idx, c_idx = np.nonzero(coded)
    codes = np.array([c.kcd for c in CONDITIONS], dtype=object)[c_idx]
    for j, cond in enumerate(CONDITIONS):
        if cond.kcd_alternatives:
            rows = np.flatnonzero((c_idx == j) & (rng.random(c_idx.shape[0]) < 0.25))
            codes[rows] = rng.choice(np.array(cond.kcd_alternatives, dtype=object), rows.shape[0])
    stage = ckd_stage(egfr_true)
    # Diabetes and hypertension with kidney disease are coded as their kidney forms about half the time.
    kidney = stage[v_idx] >= 3
    t2dm_kidney = (c_idx == CONDITION_INDEX["t2dm"]) & kidney & (rng.random(c_idx.shape[0]) < 0.5)
    codes[t2dm_kidney] = T2DM_WITH_KIDNEY_COMPLICATIONS
    htn_kidney = (c_idx == CONDITION_INDEX["hypertension"]) & kidney & (rng.random(c_idx.shape[0]) < 0.2)
    codes[htn_kidney] = HYPERTENSIVE_CKD

    ckd_visit = np.flatnonzero((stage >= 3) & (rng.random(visits.n) < 0.8 * p_code))
    ckd_codes = np.array([CKD_STAGE_CODES[s] for s in range(1, 6)], dtype=object)[stage[ckd_visit] - 1]
    ckd_codes[rng.random(ckd_visit.shape[0]) < 0.15] = CKD_UNSPECIFIED

    has_ckd_code = np.zeros(visits.n, dtype=bool)
    has_ckd_code[ckd_visit] = True
    quiet = np.flatnonzero(~coded.any(axis=1) & ~has_ckd_code)
    acute_codes = rng.choice(np.array(ACUTE_CODES, dtype=object), quiet.shape[0])

    visit = np.concatenate([v_idx, ckd_visit, quiet])
    all_codes = np.concatenate([codes, ckd_codes, acute_codes])
    cond_idx = np.concatenate([c_idx, np.full(ckd_visit.shape[0] + quiet.shape[0], -1)])
    order = np.argsort(visit, kind="stable")
    visit, all_codes, cond_idx = visit[order], all_codes[order], cond_idx[order]
    primary = np.r_[True, visit[1:] != visit[:-1]] if visit.size else np.zeros(0, dtype=bool)
    return Coded(visit=visit, code=style_codes(all_codes, profile, rng), primary=primary), cond_idx


def _regimen_table() -> tuple[np.ndarray, list[str]]:
    drugs = sorted({d for c in CONDITIONS for reg in c.drugs for d in reg})
    max_reg = max(len(c.drugs) for c in CONDITIONS)
    max_len = max(len(reg) for c in CONDITIONS for reg in c.drugs)
    table = np.full((len(CONDITIONS), max(max_reg, 1), max_len), -1, dtype=np.int64)
    for j, cond in enumerate(CONDITIONS):
        for r, reg in enumerate(cond.drugs):
            table[j, r, : len(reg)] = [drugs.index(d) for d in reg]
    return table, drugs


_REGIMENS, DRUG_CODES = _regimen_table()


def draw_prescriptions(
    pop: Population, visits: Visits, dx: Coded, dx_condition: np.ndarray, rng: np.random.Generator
) -> tuple[Coded, np.ndarray]:
    """Each coded, treated condition brings the patient's regimen for it; returns rows and days supplied."""
    treated = dx_condition >= 0
    rows = np.flatnonzero(treated)
    person = visits.person[dx.visit[rows]]
    cond = dx_condition[rows]
    regimen = pop.regimen[person, cond]
    drugs = _REGIMENS[cond, regimen]  # [rows, max_len]
    has_drug = drugs >= 0
    rep_rows = np.repeat(rows, has_drug.sum(axis=1))
    drug_idx = drugs[has_drug]
    # Not every coded visit renews the prescription (e.g. inpatient stays reconcile them instead).
    keep = rng.random(rep_rows.shape[0]) < 0.85
    rep_rows, drug_idx = rep_rows[keep], drug_idx[keep]
    codes = np.array(DRUG_CODES, dtype=object)[drug_idx]
    days = rng.choice(DAYS_SUPPLY, size=rep_rows.shape[0], p=DAYS_SUPPLY_P)
    return Coded(visit=dx.visit[rep_rows], code=codes, primary=np.zeros(rep_rows.shape[0], bool)), days


def draw_procedures(pop: Population, visits: Visits, egfr_true: np.ndarray, rng: np.random.Generator) -> Coded:
    """Procedures done at visits of patients whose conditions call for them; dialysis in CKD stage 5."""
    parts_v, parts_c = [], []
    for proc in PROCEDURES:
        trig = np.zeros(pop.n, dtype=bool)
        for key in proc.triggers:
            trig |= pop.condition(key)
        v = np.flatnonzero(trig[visits.person] & (rng.random(visits.n) < proc.probability))
        parts_v.append(v)
        parts_c.append(np.full(v.shape[0], proc.code, dtype=object))
    dialysis = np.flatnonzero((egfr_true < 12) & (rng.random(visits.n) < 0.7))
    parts_v.append(dialysis)
    parts_c.append(np.full(dialysis.shape[0], HAEMODIALYSIS_CODE, dtype=object))
    visit = np.concatenate(parts_v)
    order = np.argsort(visit, kind="stable")
    code = np.concatenate(parts_c)[order]
    return Coded(visit=visit[order], code=code, primary=np.zeros(visit.shape[0], dtype=bool))
