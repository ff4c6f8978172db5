"""Clinical notes of a chunk as the extract's clinical_notes rows: which visits get which kind of note.

Notes are rendered one by one in Python (templates with exact identifier spans, `dari.synth.notes`), so only a
share of visits get one: one admission in seven a discharge summary, some emergency and outpatient visits
another kind. The texts quote the patient's identifiers as real notes do; that is what de-identification is for.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np
import pyarrow as pa

from dari.synth.calendar import years_between
from dari.synth.catalogue import CONDITIONS
from dari.synth.chunk import SimulatedChunk
from dari.synth.notes import NOTE_TITLES, ClinicalFacts, Condition, LabValue, render_note
from dari.synth.render import _datetimes
from dari.synth.sites import SiteProfile
from dari.synth.visits import EMERGENCY, INPATIENT, OUTPATIENT
from dari.vocab import shipped_vocabulary

_ABBREVIATIONS = {
    "hypertension": "HTN",
    "t2dm": "DM",
    "t1dm": "T1DM",
    "dyslipidaemia": "DL",
    "heart_failure": "HF",
    "atrial_fibrillation": "AF",
    "copd": "COPD",
    "mi": "MI",
    "stroke": "CVA",
}
_OUTPATIENT_KINDS = np.array(["progress", "referral", "consent", "radiology", "nursing", "mixed"], dtype=object)


@cache
def _condition_names() -> tuple[Condition, ...]:
    vocab = shipped_vocabulary()
    out = []
    for c in CONDITIONS:
        concept = vocab.maps_to(vocab.by_code("KCD8", c.kcd).concept_id)
        out.append(Condition(ko=concept.concept_name_ko, en=concept.concept_name, abbr=_ABBREVIATIONS.get(c.key)))
    return tuple(out)


@cache
def _drug_name(atc: str) -> str:
    concept = shipped_vocabulary().find_code("ATC", atc)
    return concept.concept_name if concept is not None else atc


def pick_note_visits(sim: SimulatedChunk, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Visits that get a note, and the kind of note each gets."""
    v = sim.visits
    u = rng.random(v.n)
    ip = np.flatnonzero((v.kind == INPATIENT) & (u < 0.15))
    er = np.flatnonzero((v.kind == EMERGENCY) & (u < 0.08))
    op = np.flatnonzero((v.kind == OUTPATIENT) & (u < 0.006))
    visit = np.concatenate([ip, er, op])
    kind = np.concatenate(
        [
            np.full(ip.size, "discharge_summary", dtype=object),
            rng.choice(np.array(["hp_en", "mixed"], dtype=object), er.size),
            rng.choice(_OUTPATIENT_KINDS, op.size),
        ]
    )
    order = np.argsort(visit, kind="stable")
    return visit[order], kind[order]


def _facts(sim: SimulatedChunk, visit: int) -> ClinicalFacts:
    v, pop = sim.visits, sim.pop
    p = int(v.person[visit])
    day = v.start[visit]
    active = np.flatnonzero(pop.has[p] & (pop.onset[p] <= day))
    names = _condition_names()
    drugs = [_drug_name(d) for j in active if CONDITIONS[j].drugs for d in CONDITIONS[j].drugs[pop.regimen[p, j]]]
    lv = sim.levels
    lab_values = [
        LabValue("HbA1c", round(float(lv.hba1c[p]), 1), "%"),
        LabValue("LDL", round(float(lv.ldl[p])), "mg/dL"),
    ]
    return ClinicalFacts(
        age=int(years_between(pop.birth_date[p : p + 1], day)[0]),
        sex="F" if pop.female[p] else "M",
        conditions=[names[j] for j in active],
        drugs=drugs,
        labs=lab_values,
        visit_date=dt.date.fromisoformat(str(day)),
        department=str(v.department[visit]),
    )


def render_notes(
    sim: SimulatedChunk,
    profile: SiteProfile,
    identity: pa.Table,
    visit_numbers: np.ndarray,
    counters: dict[str, int],
    rng: np.random.Generator,
) -> pa.Table:
    """clinical_notes rows for the chunk (free text quoting identifiers, as real notes do)."""
    visit, kind = pick_note_visits(sim, rng)
    people = identity.take(pa.array(sim.visits.person[visit])).to_pylist()
    texts = [
        render_note(str(k), _facts(sim, int(i)), who, rng).text for i, k, who in zip(visit, kind, people, strict=True)
    ]
    start = counters.get("clinical_notes", 1)
    counters["clinical_notes"] = start + visit.size
    minutes = rng.integers(8 * 60, 20 * 60, visit.size)
    return pa.table(
        {
            "note_no": np.arange(start, start + visit.size, dtype=np.int64),
            "visit_no": visit_numbers[visit],
            "patient_no": identity["patient_no"].take(pa.array(sim.visits.person[visit])),
            "written_at": _datetimes(sim.visits.end[visit], minutes, profile.date_format),
            "note_type": pa.array([NOTE_TITLES[str(k)] for k in kind], type=pa.string()),
            "note_text": pa.array(texts, type=pa.string()),
        }
    )
