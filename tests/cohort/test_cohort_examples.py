"""The shipped example definitions on a synthetic site: they run, every released count is protected, SQL is shown."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dari.cdm.store import open_store
from dari.cohort import feasibility, load_definition, load_table_one_request, pool_feasibility, table_one
from dari.cohort.compile import cohort_sql
from dari.disclosure import DisclosureRules, ProtectedCount

EXAMPLES = Path(str(resources.files("dari.cohort") / "examples"))


def _counts(obj: Any) -> list[ProtectedCount]:
    """Every ProtectedCount anywhere inside a result."""
    if isinstance(obj, ProtectedCount):
        return [obj]
    if isinstance(obj, BaseModel):
        return [c for name in type(obj).model_fields for c in _counts(getattr(obj, name))]
    if isinstance(obj, list | tuple):
        return [c for x in obj for c in _counts(x)]
    if isinstance(obj, dict):
        return [c for x in obj.values() for c in _counts(x)]
    return []


def _assert_protected(result: BaseModel, rules: DisclosureRules) -> list[ProtectedCount]:
    counts = _counts(result)
    for c in counts:
        if c.suppressed:
            assert c.value is None and c.shown == f"<{rules.min_cell}"
        else:
            assert c.value is not None and c.value >= rules.min_cell and c.value % rules.rounding_base == 0
            assert c.shown == str(c.value)
    return counts


@pytest.mark.parametrize("name", ["t2dm_on_metformin", "ckd_g3"])
def test_cohort_examples_all_counts_protected(synthetic_site: Path, name: str) -> None:
    # Prepare
    definition = load_definition(EXAMPLES / f"{name}.json")
    request = load_table_one_request(EXAMPLES / "table_one_cardiometabolic.json")
    rules = DisclosureRules()
    store = open_store(synthetic_site)
    # Execute
    try:
        result = feasibility(store, definition, site="site-1")
        characterised = table_one(store, definition, request, site="site-1")
    finally:
        store.close()
    # Assert
    counts = _assert_protected(result, rules) + _assert_protected(characterised, rules)
    assert len(counts) > 20
    assert result.attrition[0].remaining.value is not None  # a 400-patient site has indexed persons
    for lab in characterised.labs:
        assert lab.summary.released == (lab.summary.mean is not None)
        for b in lab.summary.histogram:
            assert not b.persons.suppressed
    pooled = pool_feasibility([result, result.model_copy(update={"site": "site-2"})])
    assert pooled.attrition[0].remaining.value == 2 * result.attrition[0].remaining.value


def test_cohort_sql_for_review(synthetic_site: Path) -> None:
    store = open_store(synthetic_site)
    try:
        definition = load_definition(EXAMPLES / "ckd_g3.json")
        duck = cohort_sql(store, definition, site="site-1")
        pg = cohort_sql(store, definition, site="site-1", dialect="postgres")
    finally:
        store.close()
    assert "ROW_NUMBER()" in duck and "measurement" in duck
    assert "INTERVAL '90 DAY'" in pg and "INTERVAL '90' DAY" in duck
