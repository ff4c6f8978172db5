"""The shipped bilingual vocabulary: content, hierarchy, mappings, synonyms and code normalisation."""

from __future__ import annotations

import pytest

from dari.vocab import (
    LOCAL_CONCEPT_ID_MIN,
    NO_MATCHING_CONCEPT_ID,
    kcd_with_dot,
    normalise_kcd_code,
    shipped_vocabulary,
)

# Every KCD code the synthetic hospitals emit (content brief), with dot as stored.
KCD_CODES = [
    "E10", "E10.9", "E11", "E11.2", "E11.5", "E11.6", "E11.9", "I10", "I11", "I11.0", "I12", "I12.0",
    "E78", "E78.0", "E78.5", "N18", "N18.1", "N18.2", "N18.3", "N18.4", "N18.5", "N18.9", "I50", "I50.0",
    "I50.9", "I48", "I48.0", "I48.9", "J44", "J44.1", "J44.9", "I21", "I21.9", "I63", "I63.9", "E66",
    "E66.9", "C16", "C16.9", "C18", "C18.9", "C20", "C34", "C34.9", "C50", "C50.9", "C22", "C22.0", "C73",
]  # fmt: skip
ATC_CODES = [
    "A10BA02", "A10BK01", "A10BK03", "A10BH01", "A10AE04", "C09CA01", "C09AA05", "C08CA01", "C10AA05",
    "C10AA07", "C07AB07", "C03CA01", "C03DA01", "C09DX04", "B01AA03", "B01AF01", "B01AF02", "B01AC06",
    "R03BB04",
]  # fmt: skip
LOINC_CODES = [
    "4548-4", "2160-0", "98979-8", "2823-3", "718-7", "13457-7", "1558-6", "2951-2", "33762-6", "8480-6",
    "8462-4", "39156-5", "29463-7",
]  # fmt: skip
UCUM_CODES = ["%", "mg/dL", "umol/L", "mL/min/{1.73_m2}", "mmol/L", "g/dL", "pg/mL", "mm[Hg]", "kg/m2", "kg"]


def snomed(code: str) -> int:
    return shipped_vocabulary().by_code("SNOMED", code).concept_id


def test_descendants_of_diabetes_include_t2dm_with_kidney_complications() -> None:
    vocab = shipped_vocabulary()
    names = {c.concept_name for c in vocab.descendants(snomed("73211009"))}
    assert "Type 2 diabetes mellitus" in names
    assert "Renal disorder due to type 2 diabetes mellitus" in names
    kidney = vocab.by_code("SNOMED", "420279001")
    depth = {c.concept_id: i for i, c in enumerate(vocab.descendants(snomed("73211009")))}
    assert depth[kidney.concept_id] > depth[snomed("44054006")]  # deeper than T2DM itself


def test_ancestry_levels_follow_is_a_paths() -> None:
    ancestry = shipped_vocabulary().ancestry()
    assert ancestry[(snomed("73211009"), snomed("420279001"))] == (2, 2)
    assert ancestry[(snomed("73211009"), snomed("73211009"))] == (0, 0)
    # T2DM renal disorder is also under CKD (1 step) and kidney disease (2 steps)
    assert ancestry[(snomed("90708001"), snomed("420279001"))] == (2, 2)


def test_ckd_has_stages_one_to_five_beneath() -> None:
    vocab = shipped_vocabulary()
    children = {c.concept_code for c in vocab.descendants(snomed("709044004"))}
    assert {"431855005", "431856006", "433144002", "431857002", "433146000"} <= children


def test_hypertension_and_cancer_groupings_hold_their_members() -> None:
    vocab = shipped_vocabulary()
    htn = {c.concept_code for c in vocab.descendants(snomed("38341003"))}
    assert {"59621000", "64715009", "38481006"} <= htn
    cancers = {c.concept_code for c in vocab.descendants(snomed("363346000"))}
    assert {
        "363349007",
        "363406005",
        "363358000",
        "254837009",
        "93870000",
        "363478007",
        "25370001",
    } <= cancers
    heart = {c.concept_code for c in vocab.descendants(snomed("49601007"))}
    assert {"84114007", "49436004", "57054005", "432504007"} <= heart


@pytest.mark.parametrize("code", KCD_CODES)
def test_kcd_code_maps_to_standard_condition(code: str) -> None:
    vocab = shipped_vocabulary()
    source = vocab.by_code("KCD8", code)
    target = vocab.maps_to(source.concept_id)
    assert not source.standard_concept
    assert target.is_standard and target.domain_id == "Condition" and target.vocabulary_id == "SNOMED"


@pytest.mark.parametrize("code", ATC_CODES)
def test_atc_code_maps_to_rxnorm_with_korean_name(code: str) -> None:
    vocab = shipped_vocabulary()
    target = vocab.maps_to(vocab.by_code("ATC", code).concept_id)
    assert target.vocabulary_id == "RxNorm" and target.domain_id == "Drug" and target.concept_name_ko


def test_ingredient_sits_under_its_atc_class() -> None:
    vocab = shipped_vocabulary()
    dapa = vocab.maps_to(vocab.by_code("ATC", "A10BK01").concept_id)
    assert {"A10BK", "A10"} <= {c.concept_code for c in vocab.ancestors(dapa.concept_id)}


@pytest.mark.parametrize("code", LOINC_CODES)
def test_loinc_code_is_its_own_standard_measurement(code: str) -> None:
    vocab = shipped_vocabulary()
    concept = vocab.by_code("LOINC", code)
    assert vocab.maps_to(concept.concept_id) == concept and concept.domain_id == "Measurement"


def test_ucum_units_are_standard_unit_concepts() -> None:
    vocab = shipped_vocabulary()
    assert all(vocab.by_code("UCUM", u).domain_id == "Unit" for u in UCUM_CODES)
    with pytest.raises(KeyError):
        vocab.by_code("UCUM", "MG/DL")  # UCUM is case-sensitive


@pytest.mark.parametrize("code", ["dari-local:DL-HD", "dari-local:DL-ECG12", "dari-local:DL-COLO"])
def test_procedure_stand_in_maps_to_snomed_procedure(code: str) -> None:
    vocab = shipped_vocabulary()
    source = vocab.by_code(*code.split(":"))
    assert vocab.maps_to(source.concept_id).domain_id == "Procedure"
    assert "SYNTHETIC" in source.note


def test_kcd_code_with_and_without_dot_resolves_the_same() -> None:
    vocab = shipped_vocabulary()
    assert vocab.by_code("KCD8", "E119") == vocab.by_code("KCD8", "E11.9") == vocab.by_code("KCD8", " e11.9 ")
    assert normalise_kcd_code("E11.2†") == "E112"
    assert kcd_with_dot("N185") == "N18.5" and kcd_with_dot("I10") == "I10"


@pytest.mark.parametrize(
    ("term", "code"),
    [
        ("당뇨", "73211009"), ("DM", "73211009"), ("T2DM", "44054006"), ("CKD", "709044004"),
        ("만성 신장병", "709044004"), ("만성 콩팥병", "709044004"), ("만성콩팥병", "709044004"),
        ("HTN", "38341003"), ("고혈압", "38341003"), ("AFib", "49436004"), ("심방세동", "49436004"),
        ("CHF", "42343007"), ("심부전", "84114007"), ("만성폐쇄성폐질환", "13645005"), ("위암", "363349007"),
        ("폐암", "363358000"), ("유방암", "254837009"), ("갑상선암", "363478007"),
        ("이상지질혈증", "370992007"), ("고지혈증", "370992007"), ("대장암", "363406005"),
        ("간암", "93870000"),
    ],
)  # fmt: skip
def test_synonym_finds_standard_condition(term: str, code: str) -> None:
    hits = shipped_vocabulary().by_term(term)
    assert hits and hits[0].is_standard
    assert code in {c.concept_code for c in hits}


@pytest.mark.parametrize(
    ("term", "code"),
    [("당화혈색소", "4548-4"), ("크레아티닌", "2160-0"), ("사구체여과율", "98979-8"), ("칼륨", "2823-3"),
     ("헤모글로빈", "718-7"), ("혈색소", "718-7"), ("LDL 콜레스테롤", "13457-7"), ("메트포르민", "6809")],
)  # fmt: skip
def test_synonym_finds_lab_or_drug(term: str, code: str) -> None:
    assert code in {c.concept_code for c in shipped_vocabulary().by_term(term)}


def test_concept_ids_are_local_and_standard_concepts_have_korean_names() -> None:
    vocab = shipped_vocabulary()
    assert all(c.concept_id > LOCAL_CONCEPT_ID_MIN or c.concept_id == NO_MATCHING_CONCEPT_ID for c in vocab.concepts)
    assert all(c.concept_name_ko for c in vocab.concepts if c.is_standard)


def test_lookup_of_unknown_code_raises_key_error() -> None:
    vocab = shipped_vocabulary()
    with pytest.raises(KeyError, match=r"Z99\.9"):
        vocab.by_code("KCD8", "Z99.9")
    assert vocab.find_code("KCD8", "Z99.9") is None


def test_source_code_map_joins_on_normalised_code() -> None:
    table = shipped_vocabulary().source_code_map("KCD8").to_pylist()
    row = next(r for r in table if r["source_code"] == "N18.3")
    assert row["normalised_code"] == "N183"
    assert row["target_concept_id"] == snomed("433144002") and row["target_domain_id"] == "Condition"
    assert len({r["normalised_code"] for r in table}) == len(table)
