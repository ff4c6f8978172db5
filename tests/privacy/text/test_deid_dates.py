"""Date shifting in notes: every recognised form moves by exactly the given days and keeps its notation."""

from __future__ import annotations

import pytest

from dari.privacy.text import SurrogateMap, deidentify
from dari.privacy.text.dates import generalise_date, read_date, shift_date
from dari.privacy.text.patterns import find_dates


@pytest.mark.parametrize(
    ("written", "shifted"),
    [
        ("2024-03-05", "2024-04-01"),
        ("2024.3.5", "2024.4.1"),
        ("2024.03.05", "2024.04.01"),
        ("2024. 3. 5", "2024. 4. 1"),
        ("2024/03/05", "2024/04/01"),
        ("2024년 3월 5일", "2024년 4월 1일"),
        ("2024년3월5일", "2024년4월1일"),
        ("24년 3월 5일", "24년 4월 1일"),
        ("3월 5일", "4월 1일"),
        ("03/05/2024", "04/01/2024"),
        ("3/5/24", "4/1/24"),
        ("24/3/5", "24/4/1"),
        ("24.3.5", "24.4.1"),
        ("24.03.05", "24.04.01"),
        ("20240305", "20240401"),
        ("March 5, 2024", "April 1, 2024"),
        ("Mar 5, 2024", "Apr 1, 2024"),
        ("Mar. 5th, 2024", "Apr. 1st, 2024"),
        ("March 5", "April 1"),
        ("5 Mar 2024", "1 Apr 2024"),
        ("5 March, 2024", "1 April, 2024"),
        ("05-MAR-2024", "01-APR-2024"),
        ("5-Mar-24", "1-Apr-24"),
        ("MAR 5, 2024", "APR 1, 2024"),
        ("Sept. 3rd, 2024", "Sep. 30th, 2024"),
    ],
)
def test_shift_date_moves_by_the_days_in_the_same_notation(written: str, shifted: str) -> None:
    # Execute
    out = shift_date(written, 27)
    # Assert
    assert out == shifted
    before, after = read_date(written), read_date(shifted)
    assert before is not None and after is not None
    assert (after.day - before.day).days == 27


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-05 입원",
        "내원 24/3/5,",
        "seen 5 Mar 2024 in clinic",
        "in March 2024.",
        "ADM 05-MAR-2024 ER",
        "on MAR 5",
    ],
)
def test_detector_finds_every_form_the_shifter_reads(text: str) -> None:
    spans = find_dates(text)
    assert len(spans) == 1
    assert read_date(text[spans[0].start : spans[0].end]) is not None


def test_shift_date_month_only_moves_its_mid_month() -> None:
    # 2024-03-15 − 20 days is in February; + 10 days still March
    assert shift_date("2024년 3월", -20) == "2024년 2월"
    assert shift_date("2024년 3월", 10) == "2024년 3월"
    assert shift_date("March 2024", 17) == "April 2024"
    assert shift_date("Sept, 2024", -16) == "Aug, 2024"


def test_shift_date_year_less_dates_stay_year_less_and_keep_feb_29() -> None:
    assert shift_date("2/29", 1) == "3/1"
    assert shift_date("12월 30일", 5) == "1월 4일"


def test_detector_leaves_lower_case_month_words_alone() -> None:
    assert find_dates("you may 2 times daily, march 2024 later") == []


def test_shift_date_impossible_or_unknown_is_none() -> None:
    assert shift_date("2024-02-30", 3) is None
    assert shift_date("24/13/5", 3) is None
    assert shift_date("yesterday", 3) is None


@pytest.mark.parametrize(
    ("written", "precision", "expected"),
    [
        ("1957.03.02", "year", "1957"),
        ("1957년 3월 2일", "year", "1957년"),
        ("03/02/1957", "month", "03/1957"),
        ("1957-03-02", "month", "1957-03"),
        ("March 2, 1957", "month", "March 1957"),
        ("1957-03-02", "day", "1957-03-19"),
        ("1957-12-20", "year", "1958"),  # the CDM's year_of_birth is the year of the shifted date too
    ],
)
def test_generalise_date_writes_no_finer_than_asked(written: str, precision: str, expected: str) -> None:
    days = 13 if written == "1957-12-20" else 17
    assert generalise_date(written, days, precision) == expected  # type: ignore[arg-type]


def test_six_digit_birth_date_only_after_a_birth_cue() -> None:
    assert [s.label for s in find_dates("생년월일 570302")] == ["DATE"]
    assert find_dates("검사 570302 결과") == []
    assert generalise_date("570302", 17, "day") == "570319"


def test_generalise_date_without_year_gives_nothing_for_year_precision() -> None:
    assert generalise_date("3월 2일", 5, "year") is None


def test_deidentify_per_person_shift_and_birth_precision() -> None:
    # Prepare
    base = SurrogateMap(b"k" * 32, birth_precision="year")
    text = "생년월일: 1957.03.02  입원일: 2024-03-05  DOB 03/02/1957"
    # Execute
    a = deidentify(text, surrogate=base.for_person("P1", 12)).text
    b = deidentify(text, surrogate=base.for_person("P2", -7)).text
    # Assert
    assert a == "생년월일: 1957  입원일: 2024-03-17  DOB 1957"
    assert "입원일: 2024-02-27" in b
