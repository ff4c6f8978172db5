"""The action table is data: every row names a real DICOM attribute and a valid PS3.15 code."""

from __future__ import annotations

import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag

from dari.privacy.dicom.table import (
    CURVE,
    OVERLAY_DATA,
    PATTERNS,
    PRIVATE,
    load_rules,
    parse_tag,
    pattern_rule,
    resolve,
    source,
    table_rows,
)


def test_table_is_the_whole_2024b_table_with_dictionary_keywords() -> None:
    rows = table_rows()
    assert len(rows) == source()["rows"] == 621  # PS3.15 2024b Table E.1-1, pattern rows included
    assert len({r.tag for r in rows}) == len(rows)
    assert {r.tag for r in rows} >= set(PATTERNS)
    for tag, rule in load_rules().items():
        assert keyword_for_tag(tag) == rule.keyword, hex(tag)
    assert source()["edition"] == "2024b"


def test_rt_waveform_and_trial_rows_are_in_the_table() -> None:
    by_keyword = {r.keyword: r for r in load_rules().values()}
    assert by_keyword["IconImageSequence"].basic == "X"
    assert by_keyword["RTPlanLabel"].basic == "D"
    assert by_keyword["RTPlanLabel"].clean_descriptors == "C"
    assert by_keyword["ROIName"].basic == "Z"
    assert by_keyword["ClinicalTrialSubjectID"].basic == "D"
    assert by_keyword["ContentSequence"].options == {"clean_structured_content": "C"}
    assert by_keyword["EthnicGroup"].options == {"retain_patient_characteristics": "K"}
    assert by_keyword["PatientID"].basic == "Z/D"


def test_pattern_rows_cover_private_curve_and_overlay_tags() -> None:
    assert pattern_rule(0x00091001) is not None and pattern_rule(0x00091001).tag == PRIVATE  # type: ignore[union-attr]
    assert pattern_rule(0x50020010).tag == CURVE  # type: ignore[union-attr]
    assert pattern_rule(0x60003000).tag == OVERLAY_DATA  # type: ignore[union-attr]
    assert pattern_rule(0x60000010) is None  # overlay rows: not a table row (dari removes 60xx whole anyway)
    assert pattern_rule(0x00100010) is None


def test_core_identifiers_have_the_standard_codes() -> None:
    by_keyword = {r.keyword: r for r in load_rules().values()}
    assert by_keyword["PatientName"].basic == "Z"
    assert by_keyword["InstitutionName"].basic == "X/Z/D"
    assert by_keyword["StudyInstanceUID"].basic == "U"
    assert by_keyword["StudyDate"].modified_dates == "C"
    assert by_keyword["StudyDescription"].clean_descriptors == "C"
    assert by_keyword["ReferencedImageSequence"].basic == "X/Z/U*"


NOT_DATES = {"TimezoneOffsetFromUTC", "FrameOriginTimestamp", "CertifiedTimestamp"}


def test_option_columns_only_mark_dates_and_text() -> None:
    for tag, rule in load_rules().items():
        if rule.modified_dates:
            # The standard also marks a time-zone offset (SH) and two OB timestamps: dari applies the basic code there.
            assert dictionary_VR(tag) in {"DA", "DT", "TM"} or rule.keyword in NOT_DATES, rule.keyword
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
