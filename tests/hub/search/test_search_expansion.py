"""The terminology behind query expansion: shipped vocabulary forms, the curated table, how queries split."""

from __future__ import annotations

import csv
from importlib import resources

from dari.hub.search.analysis import analyse
from dari.hub.search.expansion import QueryUnit, shipped_lexicon
from dari.vocab import shipped_vocabulary


def _units(query: str) -> list[QueryUnit]:
    return shipped_lexicon().units(query, analyse(query))


def test_expansion_korean_lay_term_reaches_english_name() -> None:
    (unit,) = _units("당뇨")
    assert unit.groups == ("Diabetes mellitus / 당뇨병",)
    assert ("diabete", "mellitus") in unit.alternatives
    assert ("dm",) in unit.alternatives


def test_expansion_abbreviation_reaches_korean_name() -> None:
    (unit,) = _units("CKD")
    assert ("만성", "신장병") in unit.alternatives
    assert ("chronic", "kidney", "disease") in unit.alternatives


def test_expansion_matches_longest_phrase_and_ignores_spacing() -> None:
    spaced = _units("만성 신장병 환자")
    joined = _units("만성신장병 환자")
    assert [u.text for u in spaced] == ["만성 신장병", "환자"]
    assert [u.text for u in joined] == ["만성신장병", "환자"]
    assert spaced[0].alternatives == joined[0].alternatives


def test_expansion_source_code_joins_its_standard_concept() -> None:
    (unit,) = _units("E11")  # KCD-8 E11 maps to SNOMED type 2 diabetes mellitus
    assert unit.groups == ("Type 2 diabetes mellitus / 2형 당뇨병",)
    assert ("t2dm",) in unit.alternatives


def test_expansion_never_offers_single_letters() -> None:
    (unit,) = _units("칼륨")  # potassium: the vocabulary's synonym 'K' would match any stray letter K
    assert ("potassium",) in unit.alternatives
    assert all(len(a) > 1 or len(a[0]) > 1 for a in unit.alternatives)


def test_expansion_unknown_word_is_its_own_unit_without_alternatives() -> None:
    (unit,) = _units("코끼리")
    assert unit.groups == () and unit.alternatives == ()


def test_expansion_curated_table_is_well_formed() -> None:
    # Prepare
    text = resources.files("dari.hub.search").joinpath("data").joinpath("abbreviations.csv").read_text("utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))
    vocabulary = shipped_vocabulary()
    synonyms = {(s.concept_id, s.synonym) for s in vocabulary.synonyms}
    # Assert
    assert rows
    for row in rows:
        assert row["language"] in ("en", "ko") and row["term"]
        assert row["source"] in ("abbrev", "ko-clin", "kcd", "catalog")
        if row["group"].isdigit():
            assert int(row["group"]) in vocabulary
            assert (int(row["group"]), row["term"]) not in synonyms, f"{row['term']} is already a vocabulary synonym"


def test_expansion_vocabulary_already_holds_the_issue_abbreviations() -> None:
    # DM, HTN, CKD, 당뇨, 고혈압 come from dari/vocab/data/synonyms.csv, not from the curated table
    synonyms = {s.synonym for s in shipped_vocabulary().synonyms}
    assert {"DM", "HTN", "CKD", "당뇨", "고혈압"} <= synonyms
