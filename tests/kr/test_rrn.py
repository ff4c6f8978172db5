"""Resident registration number facts: check digit, validation, parsing, vectorised generation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dari.errors import InputError
from dari.kr.rrn import generate_rrns, is_valid_rrn, parse_rrn, rrn_check_digit


def test_rrn_check_digit_hand_worked_example() -> None:
    # 850101-123456?: digits 8 5 0 1 0 1 1 2 3 4 5 6, weights 2 3 4 5 6 7 8 9 2 3 4 5
    # 16+15+0+5+0+7+8+18+6+12+20+30 = 137; 137 mod 11 = 5; (11 - 5) mod 10 = 6
    assert rrn_check_digit("850101-123456") == 6


def test_rrn_check_digit_wraps_eleven_to_one() -> None:
    # 000101-300000?: 0+0+0+5+0+7+24+0+0+0+0+0 = 36; 36 mod 11 = 3; 11 - 3 = 8
    assert rrn_check_digit("000101300000") == 8
    # 010101-100000?: 0+3+0+5+0+7+8 = 23; 23 mod 11 = 1; (11 - 1) mod 10 = 0
    assert rrn_check_digit("010101100000") == 0


def test_rrn_check_digit_rejects_wrong_length() -> None:
    with pytest.raises(InputError):
        rrn_check_digit("85010112345")


def test_is_valid_rrn_accepts_with_and_without_hyphen() -> None:
    assert is_valid_rrn("850101-1234566", allow_post_2020=False)
    assert is_valid_rrn("8501011234566", allow_post_2020=False)


def test_is_valid_rrn_bad_checksum_only_when_post_2020_allowed() -> None:
    assert is_valid_rrn("850101-1234567")
    assert not is_valid_rrn("850101-1234567", allow_post_2020=False)


@pytest.mark.parametrize("text", ["850230-1234566", "850001-1234566", "850101_1234566", "85010-11234566", ""])
def test_is_valid_rrn_rejects_impossible_dates_and_shapes(text: str) -> None:
    assert not is_valid_rrn(text)


def test_is_valid_rrn_leap_day_depends_on_century() -> None:
    # 2000 was a leap year, 1900 was not: G=3 puts 000229 in 2000, G=1 in 1900.
    assert is_valid_rrn("000229-3" + "00000" + "0")
    assert not is_valid_rrn("000229-1" + "00000" + "0")


def test_parse_rrn_reads_century_sex_and_foreigner() -> None:
    assert parse_rrn("850101-1234566") == parse_rrn("8501011234566")
    p = parse_rrn("991231-0123450")
    assert (p.birth_date, p.sex, p.foreigner) == (dt.date(1899, 12, 31), "F", False)
    q = parse_rrn("050315-7000000")
    assert (q.birth_date.year, q.sex, q.foreigner) == (2005, "M", True)


def _dates(rng: np.random.Generator, n: int, start: str, days: int) -> np.ndarray:
    return np.datetime64(start) + rng.integers(0, days, n).astype("timedelta64[D]")


def test_generate_rrns_pre_2020_valid_and_consistent() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    births = _dates(rng, n, "1890-01-01", 48_000)
    sex = np.where(rng.random(n) < 0.5, "M", "F")
    rrns = generate_rrns(births, sex, rng, np.zeros(n, dtype=bool))
    for text, born, s in zip(rrns.tolist(), births.tolist(), sex.tolist(), strict=True):
        parsed = parse_rrn(text)
        assert parsed.check_digit_valid
        assert is_valid_rrn(text, allow_post_2020=False)
        assert (parsed.birth_date, parsed.sex) == (born, s)


def test_generate_rrns_post_2020_flagged_by_checksum() -> None:
    rng = np.random.default_rng(8)
    n = 500
    births = _dates(rng, n, "2020-10-01", 1500)
    rrns = generate_rrns(births, np.full(n, "F"), rng, np.ones(n, dtype=bool))
    parsed = [parse_rrn(r) for r in rrns.tolist()]
    assert not any(p.check_digit_valid for p in parsed)
    assert all(is_valid_rrn(r) for r in rrns.tolist())
    assert {r[7] for r in rrns.tolist()} == {"4"}


def test_generate_rrns_accepts_omop_sex_concepts() -> None:
    rng = np.random.default_rng(9)
    births = np.array(["1985-01-01", "2003-06-30"], dtype="datetime64[D]")
    rrns = generate_rrns(births, np.array([8507, 8532]), rng, np.zeros(2, dtype=bool))
    assert [r[7] for r in rrns.tolist()] == ["1", "4"]


def test_generate_rrns_rejects_foreigner_born_1800s() -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(InputError):
        generate_rrns(
            np.array(["1880-01-01"], dtype="datetime64[D]"),
            np.array(["M"]),
            rng,
            np.zeros(1, bool),
            foreigner=np.ones(1, bool),
        )


@given(
    st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2099, 12, 31)),
    st.sampled_from("MF"),
    st.integers(0, 2**32 - 1),
)
def test_generate_rrns_round_trip_any_date(born: dt.date, sex: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rrn = generate_rrns(np.array([born], dtype="datetime64[D]"), np.array([sex]), rng, np.zeros(1, bool))[0]
    parsed = parse_rrn(str(rrn))
    assert (parsed.birth_date, parsed.sex, parsed.check_digit_valid) == (born, sex, True)
