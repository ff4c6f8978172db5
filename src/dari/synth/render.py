"""Rendering a simulated chunk as the hospital's extract tables (Arrow), in the site's own conventions."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dari.synth.catalogue import LABS, reported
from dari.synth.chunk import SimulatedChunk
from dari.synth.identity import HOSPITAL_REGION_WEIGHTS, generate_identities
from dari.synth.sites import SiteProfile
from dari.synth.visits import VISIT_TYPE_LABELS
from dari.vocab import shipped_vocabulary

_ROUTES = {"A10AE04": "SC"}  # insulin is injected; everything else in the catalogue is taken by mouth


def sex_codes(profile: SiteProfile) -> dict[str, str]:
    """Raw sex values of the site's extract → M/F, as its manifest declares them."""
    return {raw: code for code, raw in profile.sex_labels.items()}


def _dates(values: np.ndarray, fmt: str) -> pa.Array:
    """Dates (datetime64[D], NaT → null) as the EMR writes them.

    Arrow's strftime is slow (locale-aware, per row); a data set holds only a few thousand distinct days, so
    each distinct day is formatted once and the rest is a take() from that table.
    """
    days = values.astype("datetime64[D]").astype(np.int64)
    missing = np.isnat(values)
    if missing.all():
        return pa.nulls(values.shape[0], type=pa.string())
    lo, hi = days[~missing].min(), days[~missing].max()
    table = pc.strftime(
        pa.array(np.arange(lo, hi + 1).astype("datetime64[D]").astype("datetime64[s]"), type=pa.timestamp("s")),
        format=fmt,
    )
    idx = pa.array(np.where(missing, 0, days - lo), mask=missing)
    return table.take(idx)


_CLOCK = pa.array([f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)], type=pa.string())


def _datetimes(days: np.ndarray, minutes: np.ndarray, fmt: str) -> pa.Array:
    """Date-times as 'date HH:MM' in the site's date format (the same lookup trick as `_dates`)."""
    clock = _CLOCK.take(pa.array(minutes.astype(np.int64) % 1440))
    return pc.binary_join_element_wise(_dates(days, fmt), clock, " ")


def _names(vocabulary_id: str, codes: np.ndarray) -> pa.Array:
    """Korean names of source codes as the EMR shows them next to the code (from the shipped vocabulary)."""
    vocab = shipped_vocabulary()
    uniq, inverse = np.unique(codes.astype(str), return_inverse=True)
    names = []
    for code in uniq:
        concept = vocab.find_code(vocabulary_id, code)
        names.append(concept.concept_name_ko if concept is not None else None)
    return pa.array(np.array(names, dtype=object)[inverse], type=pa.string())


def lab_display_name(loinc: str) -> str:
    """The name a Korean lab system shows for a test: the vocabulary's Korean name, else the LOINC code."""
    concept = shipped_vocabulary().find_code("LOINC", loinc)
    return concept.concept_name_ko if concept is not None else loinc


def render_patients(
    sim: SimulatedChunk, profile: SiteProfile, patient_no: np.ndarray, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """patients.csv rows, and the identity table (kept for notes, which quote identifiers)."""
    pop = sim.pop
    sex = np.where(pop.female, "F", "M")
    ident = generate_identities(
        pop.n,
        rng,
        region_weights=HOSPITAL_REGION_WEIGHTS[profile.region],
        birth_dates=pop.birth_date,
        sex=sex,
        hospital_code=profile.hospital_code,
    )
    ident = ident.set_column(
        ident.schema.get_field_index("patient_no"), "patient_no", pa.array(patient_no, type=pa.string())
    )
    raw_sex = profile.sex_labels
    table = pa.table(
        {
            "patient_no": ident["patient_no"],
            "name": ident["name_ko"],
            "name_en": ident["name_en"],
            "rrn": ident["rrn"],
            "sex": pa.array(np.where(pop.female, raw_sex["F"], raw_sex["M"])),
            "birth_date": _dates(pop.birth_date, profile.date_format),
            "phone_mobile": ident["phone_mobile"],
            "phone_home": ident["phone_home"],
            "road_address": ident["road_address"],
            "lot_address": ident["lot_address"],
            "postcode": ident["postcode"],
            "email": ident["email"],
            "death_date": _dates(sim.death_date, profile.date_format),
        }
    )
    return table, ident


def _numbers(counters: dict[str, int], name: str, n: int) -> np.ndarray:
    """The next `n` running numbers of a file, continuing across chunks (EMR order numbers never repeat)."""
    start = counters.get(name, 1)
    counters[name] = start + n
    return np.arange(start, start + n, dtype=np.int64)


def render_events(
    sim: SimulatedChunk,
    profile: SiteProfile,
    patient_no: np.ndarray,
    counters: dict[str, int],
    rng: np.random.Generator,
) -> dict[str, pa.Table]:
    """visits, diagnoses, prescriptions, lab_results and procedures rows of the chunk."""
    v = sim.visits
    fmt = profile.date_format
    visit_no = _numbers(counters, "visits", v.n)
    pno = patient_no[v.person]
    out: dict[str, pa.Table] = {
        "visits": pa.table(
            {
                "visit_no": visit_no,
                "patient_no": pno,
                "visit_type": np.array(VISIT_TYPE_LABELS, dtype=object)[v.kind],
                "admit_date": _dates(v.start, fmt),
                "discharge_date": _dates(v.end, fmt),
                "department": pa.array(v.department, type=pa.string()),
            }
        )
    }
    dx = sim.dx
    out["diagnoses"] = pa.table(
        {
            "diagnosis_no": _numbers(counters, "diagnoses", dx.visit.size),
            "visit_no": visit_no[dx.visit],
            "patient_no": pno[dx.visit],
            "diagnosis_date": _dates(v.start[dx.visit], fmt),
            "kcd_code": pa.array(dx.code, type=pa.string()),
            "diagnosis_name": _names("KCD8", np.char.replace(dx.code.astype(str), ".", "")),
            "primary_yn": np.where(dx.primary, "Y", "N"),
        }
    )
    rx = sim.rx
    out["prescriptions"] = pa.table(
        {
            "order_no": _numbers(counters, "prescriptions", rx.visit.size),
            "visit_no": visit_no[rx.visit],
            "patient_no": pno[rx.visit],
            "order_date": _dates(v.start[rx.visit], fmt),
            "drug_code": pa.array(rx.code, type=pa.string()),
            "drug_name": _names("ATC", rx.code),
            "days_supply": sim.days_supply,
            "route": np.where(np.isin(rx.code, list(_ROUTES)), "SC", "PO"),
        }
    )
    lab = sim.lab_rows
    lab_code = np.array([f"{profile.lab_code_prefix}{x.local_suffix}" for x in LABS], dtype=object)
    lab_name = np.array([lab_display_name(x.loinc) for x in LABS], dtype=object)
    scale = np.array([reported(x, profile.creatinine_unit).factor for x in LABS])
    low = np.array([np.nan if x.range_low is None else x.range_low for x in LABS]) * scale
    high = np.array([np.nan if x.range_high is None else x.range_high for x in LABS]) * scale
    minutes = rng.integers(7 * 60, 18 * 60, lab.visit.size)
    out["lab_results"] = pa.table(
        {
            "result_no": _numbers(counters, "lab_results", lab.visit.size),
            "visit_no": visit_no[lab.visit],
            "patient_no": pno[lab.visit],
            "collected_at": _datetimes(v.start[lab.visit], minutes, fmt),
            "lab_code": pa.array(lab_code[lab.lab], type=pa.string()),
            "lab_name": pa.array(lab_name[lab.lab], type=pa.string()),
            "result_value": pa.array(lab.value, from_pandas=True).cast(pa.string()),
            "unit": pa.array(lab.unit, type=pa.string()),
            "ref_low": pa.array(low[lab.lab], from_pandas=True),
            "ref_high": pa.array(high[lab.lab], from_pandas=True),
        }
    )
    pr = sim.procedures
    out["procedures"] = pa.table(
        {
            "procedure_no": _numbers(counters, "procedures", pr.visit.size),
            "visit_no": visit_no[pr.visit],
            "patient_no": pno[pr.visit],
            "procedure_date": _dates(v.start[pr.visit], fmt),
            "procedure_code": pa.array(pr.code, type=pa.string()),
            "procedure_name": _names("dari-local", pr.code),
        }
    )
    return out
