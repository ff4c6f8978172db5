"""Korean phone numbers: generators, area codes by region, validation in every notation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dari.errors import InputError
from dari.kr.phone import AREA_CODES, generate_landlines, generate_mobiles, is_valid_phone, parse_phone
from dari.kr.textforms import format_phone


def test_generate_mobiles_format() -> None:
    nums = generate_mobiles(1000, np.random.default_rng(1))
    for num in nums.tolist():
        assert len(num) == 13 and num.startswith("010-") and num[8] == "-"
        assert num[4] not in "01"
        assert parse_phone(num).kind == "mobile"


def test_generate_landlines_area_code_matches_region() -> None:
    regions = np.array(list(AREA_CODES) * 50)
    nums = generate_landlines(regions, np.random.default_rng(2))
    for region, num in zip(regions.tolist(), nums.tolist(), strict=True):
        parsed = parse_phone(num)
        assert parsed.kind == "landline"
        assert num.split("-")[0] == AREA_CODES[region]
        assert parsed.region == region
        assert len(parsed.exchange) in (3, 4)


def test_generate_landlines_unknown_region_raises() -> None:
    with pytest.raises(InputError):
        generate_landlines(np.array(["평양직할시"]), np.random.default_rng(0))


@pytest.mark.parametrize(
    "text",
    [
        "010-1234-5678",
        "01012345678",
        "010 1234 5678",
        "+82-10-1234-5678",
        "+82 10 1234 5678",
        "+821012345678",
        "02-123-4567",
        "02-1234-5678",
        "(02) 1234-5678",
        "051-234-5678",
        "064-7123-4567",
        "070-1234-5678",
        "+82-2-1234-5678",
        "+82 (0)10 1234 5678",
    ],
)
def test_is_valid_phone_accepts_common_notations(text: str) -> None:
    assert is_valid_phone(text)


@pytest.mark.parametrize(
    "text",
    [
        "010-123-5678",
        "010-0234-5678",
        "099-123-4567",
        "02-12-34567",
        "1234-5678",
        "010-1234-567",
        "전화없음",
        "010-12-345678",
    ],
)
def test_is_valid_phone_rejects_malformed(text: str) -> None:
    assert not is_valid_phone(text)


def test_parse_phone_international_and_region() -> None:
    p = parse_phone("+82-62-123-4567")
    assert p.national() == "062-123-4567"
    assert p.region == "광주광역시"
    assert parse_phone("02-1234-5678").international() == "+82-2-1234-5678"


@given(st.integers(0, 2**32 - 1), st.sampled_from(["hyphen", "digits", "international"]))
def test_format_phone_round_trips(seed: int, style: str) -> None:
    rng = np.random.default_rng(seed)
    num = str(generate_landlines(np.array(["부산광역시"]), rng)[0])
    written = format_phone(num, style)
    assert parse_phone(written).national() == num
