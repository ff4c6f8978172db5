"""Labelled evaluation corpus: synthetic notes of every kind, rendered with exact gold identifier spans."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from dari.errors import InputError
from dari.privacy.text.evaluation import Evaluation, Scores, evaluate
from dari.privacy.text.model import Span
from dari.synth.identity import HOSPITAL_REGION_WEIGHTS, generate_identities
from dari.synth.notes import NOTE_KINDS, ClinicalFacts, Condition, LabValue, render_note

__all__ = ["Evaluation", "LabelledDoc", "Scores", "evaluate", "make_corpus"]

_CONDITIONS = (
    Condition("본태성 고혈압", "Essential hypertension", "HTN"),
    Condition("제2형 당뇨병", "Type 2 diabetes mellitus", "DM"),
    Condition("이상지질혈증", "Dyslipidaemia", "DL"),
    Condition("만성 신장병", "Chronic kidney disease", "CKD"),
    Condition("심방세동", "Atrial fibrillation", "AF"),
    Condition("울혈성 심부전", "Congestive heart failure", "HF"),
    Condition("만성 폐쇄성 폐질환", "Chronic obstructive pulmonary disease", "COPD"),
    Condition("뇌경색", "Cerebral infarction", "CVA"),
    Condition("골다공증", "Osteoporosis"),
    Condition("위식도역류질환", "Gastro-oesophageal reflux disease", "GERD"),
)
_DRUGS = ("metformin 500mg bid", "amlodipine 5mg qd", "atorvastatin 20mg qd", "losartan 50mg qd",
          "apixaban 5mg bid", "furosemide 20mg qd", "pantoprazole 40mg qd", "aspirin 100mg qd")  # fmt: skip
_DEPARTMENTS = ("내과", "내분비내과", "신장내과", "순환기내과", "호흡기내과", "신경과", "가정의학과", "응급의학과")
_HOSPITALS = tuple(HOSPITAL_REGION_WEIGHTS)
_FIRST_BIRTH, _LAST_BIRTH = np.datetime64("1924-01-01"), np.datetime64("2024-06-30")
_FIRST_VISIT, _LAST_VISIT = dt.date(2019, 1, 1), dt.date(2024, 12, 31)


@dataclass(frozen=True)
class LabelledDoc:
    """One note with its gold spans and the placed words that must not be tagged."""

    id: str
    kind: str
    text: str
    spans: list[Span]
    distractors: list[tuple[int, int, str]] = field(default_factory=list)


def _facts(rng: np.random.Generator, born: dt.date, sex: str) -> ClinicalFacts:
    first = max(_FIRST_VISIT, born + dt.timedelta(days=30))
    visit = first + dt.timedelta(days=int(rng.integers(0, max((_LAST_VISIT - first).days, 1))))
    age = visit.year - born.year - ((visit.month, visit.day) < (born.month, born.day))
    picks = rng.choice(len(_CONDITIONS), int(rng.integers(0, 4)), replace=False)
    drugs = rng.choice(len(_DRUGS), int(rng.integers(0, 4)), replace=False)
    labs = [LabValue("HbA1c", round(float(rng.normal(7.0, 1.2)), 1), "%"),
            LabValue("Cr", round(float(rng.lognormal(0.0, 0.4)), 2), "mg/dL")]  # fmt: skip
    return ClinicalFacts(
        age=age, sex=sex, conditions=[_CONDITIONS[i] for i in picks], drugs=[_DRUGS[i] for i in drugs],
        labs=labs, visit_date=visit, department=str(rng.choice(_DEPARTMENTS)),
    )  # fmt: skip


def make_corpus(n_docs: int, seed: int) -> list[LabelledDoc]:
    """n_docs notes cycling evenly through every note kind, one synthetic patient each, from three hospitals."""
    if n_docs < 0:
        raise InputError(f"n_docs must be >= 0, got {n_docs}")
    rng = np.random.default_rng(seed)
    span_days = int((_LAST_BIRTH - _FIRST_BIRTH).astype(int))
    births = _FIRST_BIRTH + rng.integers(0, span_days, n_docs).astype("timedelta64[D]")
    sex = np.where(rng.random(n_docs) < 0.5, "M", "F")
    people: list[dict[str, object]] = []
    for h, hospital in enumerate(_HOSPITALS):
        rows = np.arange(h, n_docs, len(_HOSPITALS))
        if rows.size:
            table = generate_identities(
                rows.size, rng, region_weights=HOSPITAL_REGION_WEIGHTS[hospital], birth_dates=births[rows],
                sex=sex[rows], hospital_code=hospital,
            )  # fmt: skip
            people.extend(table.to_pylist())
    docs = []
    for i, person in enumerate(people):
        born = person["birth_date"]
        assert isinstance(born, dt.date)
        kind = NOTE_KINDS[i % len(NOTE_KINDS)]
        note = render_note(kind, _facts(rng, born, str(person["sex"])), person, rng)
        spans = [Span(s, e, label) for s, e, label in note.spans]
        docs.append(LabelledDoc(f"doc-{seed}-{i:05d}", kind, note.text, spans, list(note.distractors)))
    return docs
