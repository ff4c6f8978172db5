"""The disclosure-control additions the validation statistics rely on (dari.disclosure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dari.disclosure import DisclosureRefusedError, DisclosureRules, require_min_cell
from dari.errors import InputError


@given(n=st.integers(0, 10_000), min_cell=st.integers(1, 50))
def test_require_min_cell_refuses_exactly_below_the_minimum(n: int, min_cell: int) -> None:
    rules = DisclosureRules(min_cell=min_cell)
    if n < min_cell:
        with pytest.raises(DisclosureRefusedError):
            require_min_cell(n, "events", rules)
    else:
        require_min_cell(n, "events", rules)


def test_refusal_names_what_and_threshold_but_not_the_count() -> None:
    with pytest.raises(DisclosureRefusedError) as err:
        require_min_cell(7, "non-events")
    message = str(err.value)
    assert "fewer than 10 non-events" in message and "7" not in message
    assert isinstance(err.value, InputError) and err.value.exit_code == 2


@pytest.mark.parametrize("bad", [-1, True])
def test_require_min_cell_rejects_non_counts(bad: int) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        require_min_cell(bad, "rows")
