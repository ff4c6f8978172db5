"""Tokenisation: Korean morphemes and variants, English normalisation, spans that line up with the text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dari.hub.search.analysis import analyse, english_term, spans


def _terms(text: str) -> list[str]:
    """Every term the text is indexed under (primary terms and variants)."""
    return [s.term for s in spans(analyse(text))]


def _primary(text: str) -> list[str]:
    return [w.term for w in analyse(text)]


def test_analyse_disease_noun_also_yields_its_stem() -> None:
    # Kiwi keeps '당뇨병' as one noun; search must still meet '당뇨'
    words = analyse("당뇨병")
    assert [w.term for w in words] == ["당뇨병"]
    assert [a.term for a in words[0].aliases] == ["당뇨"]


def test_analyse_drops_particles_and_endings() -> None:
    words = analyse("당뇨병으로 입원한 환자들의 기록이")
    assert [w.term for w in words] == ["당뇨병", "입원", "환자", "기록"]


def test_analyse_joins_prefix_and_suffix_to_the_noun() -> None:
    # Kiwi: 고/XPN 혈압/NNG 성/XSN; the word is '고혈압성', with the core '고혈압' as a variant
    words = analyse("고혈압성 질환")
    assert words[0].term == "고혈압성"
    assert "고혈압" in [a.term for a in words[0].aliases]
    assert "혈압" not in _terms("고혈압")  # blood pressure is a different search


def test_analyse_words_written_together_yield_the_compound() -> None:
    terms = _terms("심근경색증")
    assert {"심근", "경색증", "경색", "심근경색증", "심근경색"} <= set(terms)


def test_analyse_spacing_and_case_do_not_change_the_words() -> None:
    assert _primary("만성 신장병") == _primary("만성신장병") == ["만성", "신장병"]
    assert _primary("Chronic Kidney Diseases") == _primary("chronic kidney disease")


@pytest.mark.parametrize(
    ("word", "term"),
    [
        ("Patients", "patient"),
        ("diseases", "disease"),
        ("therapies", "therapy"),
        ("mellitus", "mellitus"),
        ("analysis", "analysis"),
        ("Haemoglobin", "hemoglobin"),
        ("Oesophagus", "esophagus"),
        ("shoes", "shoe"),
        ("paediatric", "pediatric"),
        ("HbA1c", "hba1c"),
        ("E11.9", "e119"),
        ("the", None),
    ],
)
def test_english_term_normalises(word: str, term: str | None) -> None:
    assert english_term(word) == term


def test_analyse_code_with_dot_also_yields_its_category() -> None:
    words = analyse("E11.9 제2형 당뇨병")
    assert words[0].term == "e119"
    assert [a.term for a in words[0].aliases] == ["e11"]


def test_analyse_latin_inside_korean_text_is_one_word() -> None:
    # Kiwi would split 'HbA1c' into HbA/1/c; the Latin regex keeps it whole
    assert "hba1c" in _terms("HbA1c 검사 결과를 확인")


def test_analyse_offsets_survive_characters_outside_the_bmp() -> None:
    text = "😀 당뇨 환자 𠀀"
    for s in spans(analyse(text)):
        assert text[s.start : s.end].lower().startswith(s.term[0])


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("당뇨병고혈압환자의 CKDckd-.()<>&2형가나다😀 ")), max_size=40))
def test_analyse_spans_lie_inside_the_text(text: str) -> None:
    for s in spans(analyse(text)):
        assert 0 <= s.start < s.end <= len(text)
        assert s.term
