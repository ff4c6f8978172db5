"""Synthetic clinical notes: exact gold spans, label coverage, distractors, CP949."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dari.errors import InputError
from dari.kr.phone import parse_phone
from dari.kr.rrn import parse_rrn
from dari.synth.identity import HOSPITAL_REGION_WEIGHTS, generate_identities
from dari.synth.notes import (
    LABELS,
    NOTE_KINDS,
    TRICKY_TERMS,
    ClinicalFacts,
    Condition,
    LabValue,
    RenderedNote,
    render_note,
)

FACTS = ClinicalFacts(
    age=55,
    sex="M",
    conditions=[
        Condition("제2형 당뇨병", "Type 2 diabetes mellitus", "DM"),
        Condition("고혈압", "Hypertension", "HTN"),
    ],
    drugs=["metformin 500mg bid", "amlodipine 5mg qd"],
    labs=[LabValue("HbA1c", 8.2, "%"), LabValue("Cr", 1.1, "mg/dL"), LabValue("B12", 350, "µg/L")],
    visit_date=dt.date(2023, 5, 1),
    department="내분비내과",
)
OLD = ClinicalFacts(
    age=92, sex="F", conditions=[], drugs=[], labs=[], visit_date=dt.date(2024, 2, 29), department="신장내과"
)


def _identities(n: int, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    births = np.datetime64("1930-01-01") + rng.integers(0, 30_000, n).astype("timedelta64[D]")
    table = generate_identities(
        n,
        rng,
        region_weights=HOSPITAL_REGION_WEIGHTS["gwangju_community"],
        birth_dates=births,
        sex=np.where(rng.random(n) < 0.5, "M", "F"),
        hospital_code="GJ",
    )
    rows: list[dict[str, object]] = table.to_pylist()
    return rows


def _corpus(seed: int = 1, per_kind: int = 12) -> Iterator[tuple[RenderedNote, dict[str, object]]]:
    rng = np.random.default_rng(seed)
    pool = _identities(20 * per_kind, seed)
    with_email = [p for p in pool if p["email"] is not None]
    people = with_email[: per_kind // 2] + [p for p in pool if p["email"] is None][: per_kind - per_kind // 2]
    for kind in NOTE_KINDS:
        for i, person in enumerate(people):
            yield render_note(kind, OLD if i % 4 == 0 else FACTS, person, rng), person


CORPUS = list(_corpus())


def test_notes_spans_exact_and_in_order() -> None:
    for note, _ in CORPUS:
        last_end = 0
        for start, end, label in note.spans:
            assert label in LABELS
            assert last_end <= start < end <= len(note.text)
            assert note.text[start:end].strip() == note.text[start:end]
            last_end = end


def test_notes_span_values_match_identity() -> None:
    for note, person in CORPUS:
        for start, end, label in note.spans:
            value = note.text[start:end]
            if label == "MRN":
                assert value == person["patient_no"]
            elif label == "RRN":
                assert value.replace("-", "")[:7] == str(person["rrn"]).replace("-", "")[:7]
                if "*" not in value:
                    assert parse_rrn(value).birth_date == person["birth_date"]
            elif label == "EMAIL":
                assert value == person["email"]
            elif label == "ADDRESS":
                assert value in (person["road_address"], person["lot_address"])
            elif label == "PHONE":
                assert parse_phone(value).kind in ("mobile", "landline")
            elif label == "AGE":
                assert int(value[:2]) > 89 or int(value[:3]) > 89


def test_notes_patient_name_spans_equal_name() -> None:
    for note, person in CORPUS:
        names = [note.text[s:e] for s, e, label in note.spans if label == "PERSON"]
        assert person["name_ko"] in names or str(person["name_en"]).title() in names or person["name_en"] in names


def test_notes_every_label_appears_across_kinds() -> None:
    seen = {label for note, _ in CORPUS for _, _, label in note.spans}
    assert seen == set(LABELS)


def test_notes_every_kind_quotes_identifiers() -> None:
    for kind in NOTE_KINDS:
        notes = [n for n, _ in CORPUS if n.kind == kind]
        assert all(len(n.spans) >= 2 for n in notes)


def test_notes_young_age_not_tagged_old_age_tagged() -> None:
    ages = {(n.text[s:e]) for n, _ in CORPUS for s, e, label in n.spans if label == "AGE"}
    assert ages and all(a.startswith("92") for a in ages)
    assert any("55세" in n.text for n, _ in CORPUS)


def test_notes_tricky_terms_present_and_outside_spans() -> None:
    placed = set()
    for note, _ in CORPUS:
        for start, end, word in note.distractors:
            assert note.text[start:end] == word
            assert all(end <= s or start >= e for s, e, _ in note.spans)
            placed.add(word)
    assert placed == set(TRICKY_TERMS)


def test_notes_date_formats_varied() -> None:
    dates = {note.text[s:e] for note, _ in CORPUS for s, e, label in note.spans if label == "DATE"}
    assert "2023-05-01" in dates or "2023.5.1" in dates
    assert any("년" in d for d in dates) and any("/" in d for d in dates)


def test_notes_rrn_and_phone_forms_varied() -> None:
    rrns = [note.text[s:e] for note, _ in CORPUS for s, e, label in note.spans if label == "RRN"]
    phones = [note.text[s:e] for note, _ in CORPUS for s, e, label in note.spans if label == "PHONE"]
    assert any("*" in r for r in rrns) and any("-" not in r for r in rrns) and any(r[6] == "-" for r in rrns)
    assert any(p.startswith("+82") for p in phones) and any(p.isdigit() for p in phones)


def test_notes_encode_to_cp949() -> None:
    for note, _ in CORPUS:
        note.text.encode("cp949")
    assert any("ug/L" in n.text for n, _ in CORPUS)


def test_notes_deterministic_for_seed() -> None:
    first = [(n.text, n.spans) for n, _ in _corpus(seed=9, per_kind=2)]
    second = [(n.text, n.spans) for n, _ in _corpus(seed=9, per_kind=2)]
    assert first == second


def test_render_note_unknown_kind_raises() -> None:
    with pytest.raises(InputError):
        render_note("poem", FACTS, {}, np.random.default_rng(0))


def test_render_note_tolerates_missing_contacts() -> None:
    person = _identities(1, 3)[0] | {"email": None, "phone_mobile": None, "phone_home": None}
    note = render_note("referral", FACTS, person, np.random.default_rng(0))
    assert not any(label in ("EMAIL", "PHONE") for _, _, label in note.spans)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(NOTE_KINDS), st.integers(0, 2**32 - 1), st.integers(0, 110))
def test_notes_spans_exact_any_seed(kind: str, seed: int, age: int) -> None:
    person = _identities(1, seed % 1000)[0]
    facts = ClinicalFacts(
        age=age,
        sex="F",
        conditions=FACTS.conditions,
        drugs=FACTS.drugs,
        labs=FACTS.labs,
        visit_date=dt.date(2022, 12, 31),
        department="내과",
    )
    note = render_note(kind, facts, person, np.random.default_rng(seed))
    inserted = {str(person[k]) for k in ("name_ko", "patient_no", "road_address", "lot_address") if person[k]}
    assert inserted & {note.text[s:e] for s, e, _ in note.spans}
    note.text.encode("cp949")
