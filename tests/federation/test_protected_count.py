"""ProtectedCount checks itself against the rules it names; check_protected holds it to a reader's rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dari.disclosure import DisclosureRefusedError, DisclosureRules, ProtectedCount, check_protected, protect_count

EXACT = DisclosureRules(min_cell=1, rounding_base=1)


@pytest.mark.parametrize(
    "fields",
    [
        {"shown": "3", "value": 3, "suppressed": False},  # a small cell under the default 10 / 5
        {"shown": "12", "value": 12, "suppressed": False},  # not rounded to 5
        {"shown": "<10", "value": 3, "suppressed": False},
        {"shown": "<10", "value": 3, "suppressed": True},  # suppressed but carries the value
        {"shown": "<5", "value": None, "suppressed": True},  # suppressed under another floor than it names
        {"shown": "10", "value": None, "suppressed": False},
        {"shown": "15", "value": 20, "suppressed": False},  # shows one value, carries another
        {"shown": "20 ", "value": 20, "suppressed": False},
        {"shown": "0", "value": 0, "suppressed": False, "rules": {"min_cell": 1, "rounding_base": 1}},
    ],
)
def test_protected_count_inconsistent_refused_when_constructed(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ProtectedCount.model_validate(fields)


def test_protected_count_json_round_trip_keeps_rules() -> None:
    count = protect_count(3, EXACT)
    assert ProtectedCount.model_validate_json(count.model_dump_json()) == count
    assert count.rules == EXACT and count.shown == "3"


def test_protected_count_without_rules_reads_as_default_rules() -> None:
    # Records stored before counts named their rules were all protected under the default 10 / 5.
    assert ProtectedCount.model_validate({"shown": "<10", "value": None, "suppressed": True}) == protect_count(4)


@given(n=st.integers(0, 10**6), min_cell=st.integers(1, 40), base=st.integers(1, 20))
def test_protect_count_always_passes_its_own_rules(n: int, min_cell: int, base: int) -> None:
    rules = DisclosureRules(min_cell=min_cell, rounding_base=base)
    check_protected(protect_count(n, rules), rules)


def test_check_protected_refuses_weaker_rules_than_the_readers() -> None:
    hub = DisclosureRules()
    for count in (protect_count(3, EXACT), protect_count(3, DisclosureRules(min_cell=5)), protect_count(13, EXACT)):
        with pytest.raises(DisclosureRefusedError, match="cohort"):
            check_protected(count, hub, "cohort")
    check_protected(protect_count(40, DisclosureRules(min_cell=20, rounding_base=10)), hub)
    check_protected(protect_count(4, DisclosureRules(min_cell=20)), hub)  # "<20" says less than "<10"


def test_check_protected_refuses_an_unvalidated_count() -> None:
    # model_construct skips the validator: a hand-built object must still fail the reader's check.
    smuggled = ProtectedCount.model_construct(shown="4", value=4, suppressed=False, rules=DisclosureRules())
    with pytest.raises(DisclosureRefusedError, match="minimum cell"):
        check_protected(smuggled, DisclosureRules())
    off_grid = ProtectedCount.model_construct(shown="13", value=13, suppressed=False, rules=DisclosureRules())
    with pytest.raises(DisclosureRefusedError, match="multiple of 5"):
        check_protected(off_grid, DisclosureRules())


def test_check_protected_message_never_names_the_value() -> None:
    smuggled = ProtectedCount.model_construct(shown="7", value=7, suppressed=False, rules=DisclosureRules())
    with pytest.raises(DisclosureRefusedError) as caught:
        check_protected(smuggled, DisclosureRules(), "metrics.cohort")
    assert "7" not in str(caught.value) and "metrics.cohort" in str(caught.value)
