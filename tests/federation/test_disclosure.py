"""Disclosure control: small cells never leave a site, other counts are rounded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dari.disclosure import DisclosureRules, protect_count, protect_counts


@pytest.mark.parametrize(
    ("n", "shown", "value"),
    [
        (0, "<10", None),
        (9, "<10", None),
        (10, "10", 10),
        (12, "10", 10),
        (13, "15", 15),
        (17, "15", 15),
        (18, "20", 20),
        (1234, "1235", 1235),
    ],
)
def test_protect_count_default_rules_hand_worked(n: int, shown: str, value: int | None) -> None:
    result = protect_count(n)
    assert (result.shown, result.value, result.suppressed) == (shown, value, value is None)


@given(n=st.integers(min_value=0, max_value=10**7), min_cell=st.integers(1, 50), base=st.integers(1, 20))
def test_protect_count_never_releases_small_cells(n: int, min_cell: int, base: int) -> None:
    result = protect_count(n, DisclosureRules(min_cell=min_cell, rounding_base=base))
    if n < min_cell:
        assert result.suppressed and result.value is None and result.shown == f"<{min_cell}"
    else:
        assert result.value is not None and result.value >= min_cell
        assert abs(result.value - n) <= max(base, min_cell)
    if result.value is not None and result.value != min_cell:
        assert result.value % base == 0


def test_protect_count_refuses_negative_and_bool() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        protect_count(-1)
    with pytest.raises(ValueError, match="non-negative"):
        protect_count(True)


def test_protect_counts_labels_each() -> None:
    out = protect_counts({"F 60-69": 3, "M 60-69": 42})
    assert out["F 60-69"].shown == "<10" and out["M 60-69"].shown == "40"


def test_site_rules_never_below_the_site_floor() -> None:
    from dari.disclosure import DisclosureRules, site_rules

    assert site_rules(DisclosureRules(min_cell=1, rounding_base=1)) == DisclosureRules()
    assert site_rules(DisclosureRules(min_cell=20, rounding_base=10)) == DisclosureRules(min_cell=20, rounding_base=10)
    assert site_rules(DisclosureRules(min_cell=3), DisclosureRules(min_cell=3)).min_cell == 3
