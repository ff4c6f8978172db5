"""The action table is data: every row names a real DICOM attribute and a valid PS3.15 code."""

from __future__ import annotations

import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag

from dari.privacy.dicom.table import load_rules, parse_tag, resolve


def test_table_covers_at_least_a_hundred_attributes_with_dictionary_keywords() -> None:
    rules = load_rules()
    assert len(rules) >= 100
    for tag, rule in rules.items():
        assert keyword_for_tag(tag) == rule.keyword, hex(tag)


def test_core_identifiers_have_the_standard_codes() -> None:
    by_keyword = {r.keyword: r for r in load_rules().values()}
    assert by_keyword["PatientName"].basic == "Z"
    assert by_keyword["InstitutionName"].basic == "X/Z/D"
    assert by_keyword["StudyInstanceUID"].basic == "U"
    assert by_keyword["StudyDate"].modified_dates == "C"
    assert by_keyword["StudyDescription"].clean_descriptors == "C"
    assert by_keyword["ReferencedImageSequence"].basic == "X/Z/U*"


def test_option_columns_only_mark_dates_and_text() -> None:
    for tag, rule in load_rules().items():
        if rule.modified_dates:
            assert dictionary_VR(tag) in {"DA", "DT", "TM"}, rule.keyword
        if rule.clean_descriptors:
            assert dictionary_VR(tag) not in {"DA", "DT", "TM", "UI"}, rule.keyword


@pytest.mark.parametrize(
    ("code", "action"),
    [("X", "X"), ("Z", "Z"), ("D", "D"), ("U", "U"), ("X/Z", "Z"), ("X/D", "D"), ("Z/D", "Z"), ("X/Z/D", "Z"),
     ("X/Z/U*", "U"), ("K", "K"), ("C", "C")],
)  # fmt: skip
def test_combined_codes_resolve_to_one_action(code: str, action: str) -> None:
    assert resolve(code) == action


def test_bad_codes_and_tags_are_refused() -> None:
    with pytest.raises(ValueError):
        resolve("Q")
    with pytest.raises(ValueError):
        parse_tag("(0010,0010)")
