"""Korean names and romanisation."""

from __future__ import annotations

import numpy as np

from dari.kr.gazetteer import load_name_tables
from dari.kr.names import generate_names, generation_of
from dari.kr.romanize import romanize_name, romanize_syllable


def test_romanize_syllable_examples() -> None:
    assert [romanize_syllable(s) for s in "민준서연"] == ["min", "jun", "seo", "yeon"]
    assert romanize_syllable("x") == "x"


def test_romanize_name_no_assimilation_between_syllables() -> None:
    # Rule for personal names: 복남 stays BOKNAM (not BONGNAM), 석진 SEOKJIN.
    assert romanize_name("복남") == "BOKNAM"
    assert romanize_name("석진") == "SEOKJIN"


def test_generation_of_cohorts() -> None:
    assert generation_of(np.array([1940, 1960, 1979, 1985, 2010])).tolist() == [1, 2, 2, 3, 4]


def test_generate_names_surname_frequencies_within_tolerance() -> None:
    n = 100_000
    rng = np.random.default_rng(11)
    names = generate_names(rng.random(n) < 0.5, rng.integers(1930, 2020, n), rng)
    tables = load_name_tables()
    expected = dict(zip(tables.surnames.tolist(), tables.surname_probs.tolist(), strict=True))
    for surname, share in (("김", 0.215), ("이", 0.147), ("박", 0.084), ("최", 0.047), ("정", 0.043)):
        observed = float(np.mean(names.surname == surname))
        assert abs(observed - share) < 0.01
        assert abs(observed - expected[surname]) < 0.005
    two_syllable = np.strings.str_len(names.surname) == 2
    assert 0 < two_syllable.mean() < 0.002


def test_generate_names_given_name_lengths_and_romanisation() -> None:
    rng = np.random.default_rng(12)
    names = generate_names(np.ones(5000, bool), np.full(5000, 1990), rng)
    lengths = np.strings.str_len(names.given)
    assert 0.9 < float(np.mean(lengths == 2)) < 1.0
    assert set(lengths.tolist()) <= {1, 2}
    for ko, en, surname, given, s_en in zip(
        names.name_ko.tolist()[:200],
        names.name_en.tolist()[:200],
        names.surname.tolist(),
        names.given.tolist(),
        names.surname_en.tolist(),
        strict=False,
    ):
        assert ko == surname + given
        assert en == f"{s_en} {romanize_name(given)}"
        assert en.isupper()


def test_generate_names_generation_appropriate() -> None:
    rng = np.random.default_rng(13)
    old = generate_names(np.zeros(5000, bool), np.full(5000, 1935), rng)
    young = generate_names(np.zeros(5000, bool), np.full(5000, 2015), rng)
    # '자' ends many pre-war women's names (영자, 순자) and almost no 2010s names.
    assert np.mean(np.strings.endswith(old.given, "자")) > 0.1
    assert np.mean(np.strings.endswith(young.given, "자")) == 0
