"""Generalisation hierarchies: built-ins, Korean addresses, CSV hierarchies."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from dari.errors import InputError
from dari.privacy.risk import (
    Hierarchy,
    age_bands,
    date_to_year,
    enforce_k,
    korean_address,
    postcode_prefix,
    split_korean_address,
    suppress_only,
)


@pytest.mark.parametrize(
    ("address", "sido", "sigungu"),
    [
        ("서울특별시 강남구 테헤란로 152", "서울특별시", "서울특별시 강남구"),
        ("경기도 수원시 영통구 광교로 1", "경기도", "경기도 수원시 영통구"),
        ("강원특별자치도 홍천군 홍천읍 3", "강원특별자치도", "강원특별자치도 홍천군"),
        ("세종특별자치시 한누리대로 2130", "세종특별자치시", "세종특별자치시"),
        ("부산광역시", "부산광역시", "부산광역시"),
        ("  대구광역시   중구  ", "대구광역시", "대구광역시 중구"),
        ("강남구 역삼동", None, "강남구"),
        ("", None, None),
        (None, None, None),
    ],
)
def test_split_korean_address_parts(address: str | None, sido: str | None, sigungu: str | None) -> None:
    # Execute
    parts = split_korean_address(address)
    # Assert
    assert parts == (sido, sigungu)


def test_korean_address_levels_end_in_star() -> None:
    # Execute
    chains = korean_address().generalise(["서울특별시 중구 세종대로 110", None])
    # Assert
    assert chains[0] == ("서울특별시 중구 세종대로 110", "서울특별시 중구", "서울특별시", "*")
    assert chains[1] == (None, None, None, "*")


def test_builtin_hierarchies_levels() -> None:
    # Execute
    age = age_bands((5, 10)).generalise(["42", "9"])
    date = date_to_year().generalise(["1987-03-02"])
    postcode = postcode_prefix((3, 2)).generalise(["06236"])
    sex = suppress_only().generalise(["F"])
    # Assert
    assert age == [("42", "40-44", "40-49", "*"), ("9", "5-9", "0-9", "*")]
    assert date == [("1987-03-02", "1987", "1980-1989", "*")]
    assert postcode == [("06236", "062**", "06***", "*")]
    assert sex == [("F", "*")]


def test_age_bands_non_nesting_widths_rejected() -> None:
    # Execute / Assert: a 10-year band would split a 3-year one, breaking monotonicity
    with pytest.raises(InputError, match="widths"):
        age_bands((3, 10))


def test_age_bands_non_numeric_value_names_column() -> None:
    # Execute / Assert
    with pytest.raises(InputError) as caught:
        age_bands().generalise(["forty"], column="age")
    assert caught.value.column == "age"


def test_hierarchy_from_csv_reads_arx_layout(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "dx.csv"
    path.write_text("I10,I1x,I,*\nI11,I1x,I,*\nE11,E1x,E,*\n", encoding="utf-8")
    # Execute
    hierarchy = Hierarchy.from_csv(path)
    # Assert
    assert hierarchy.height == 3
    assert hierarchy.generalise(["I11", None]) == [("I11", "I1x", "I", "*"), (None, None, None, None)]


def test_hierarchy_from_csv_non_monotone_rejected(tmp_path: Path) -> None:
    # Prepare: I1x maps to both I and E at the next level
    path = tmp_path / "bad.csv"
    path.write_text("I10,I1x,I\nI11,I1x,E\n", encoding="utf-8")
    # Execute / Assert
    with pytest.raises(InputError, match="not a function"):
        Hierarchy.from_csv(path)


def test_hierarchy_from_csv_ragged_rows_rejected(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "ragged.csv"
    path.write_text("a,x,*\nb,*\n", encoding="utf-8")
    # Execute / Assert
    with pytest.raises(InputError) as caught:
        Hierarchy.from_csv(path)
    assert caught.value.row == 2


def test_enforce_k_with_csv_hierarchy_and_unknown_value(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "dx.csv"
    path.write_text("I10,I,*\nI11,I,*\nE11,E,*\n", encoding="utf-8")
    table = pa.table({"dx": ["I10", "I11", "E11", "E11"]})
    unknown = pa.table({"dx": ["I10", "Z99"]})
    # Execute
    result = enforce_k(table, {"dx": Hierarchy.from_csv(path)}, k=2, max_suppression=0.0)
    # Assert
    assert result.levels == {"dx": 1}
    assert sorted(result.table.column("dx").to_pylist()) == ["E", "E", "I", "I"]
    with pytest.raises(InputError) as caught:
        enforce_k(unknown, {"dx": Hierarchy.from_csv(path)}, k=2, max_suppression=0.0)
    assert caught.value.column == "dx"
