"""Risk metrics: hand-worked toy tables, and random tables checked against the pure-Python reference."""

from __future__ import annotations

import math
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from risk_reference import k_anonymity, l_distinct, l_entropy, risks, t_closeness

from dari.privacy.risk import assess

# three classes over (age, sex): sizes 3, 2, 5; diagnoses flu 4, cold 3, cancer 3
TOY = pa.table(
    {
        "age": [30, 30, 30, 40, 40, 50, 50, 50, 50, 50],
        "sex": ["M", "M", "M", "F", "F", "M", "M", "M", "M", "M"],
        "dx": ["flu", "flu", "cold", "flu", "cancer", "cold", "cold", "flu", "cancer", "cancer"],
    }
)
# the toy's classes at population sizes 6, 2, 10 plus a class the sample lacks
POPULATION = pa.table(
    {
        "age": [30] * 6 + [40] * 2 + [50] * 10 + [60] * 4,
        "sex": ["M"] * 6 + ["F"] * 2 + ["M"] * 10 + ["F"] * 4,
    }
)


def test_assess_toy_k_and_l_hand_worked() -> None:
    # Prepare: class A {flu 2, cold 1}, B {flu, cancer}, C {cold 2, flu 1, cancer 2}
    # Execute
    report = assess(TOY, ["age", "sex"], sensitive="dx")
    # Assert: entropy minimum is class A: H = ln 3 − (2/3) ln 2, so l = 3 / 2^(2/3)
    assert (report.records, report.classes, report.k) == (10, 3, 2)
    assert report.l_distinct == 2
    assert report.l_entropy == pytest.approx(3 / 2 ** (2 / 3))


def test_assess_toy_t_closeness_equal_distance_hand_worked() -> None:
    # Prepare: Q = (flu .4, cold .3, cancer .3); A = (2/3, 1/3, 0) → ½(.267+.033+.3) = .3; B → .3; C → .2
    # Execute
    report = assess(TOY, ["age", "sex"], sensitive="dx")
    # Assert
    assert report.t_distance == "equal"
    assert report.t_closeness == pytest.approx(0.3)


def test_assess_salary_t_closeness_ordered_matches_li_et_al() -> None:
    # Prepare: Li et al. 2007's example: salaries 3k..11k, class {3k,4k,5k} has EMD 0.375, {6k,8k,11k} 0.167
    table = pa.table({"g": [1, 1, 1, 2, 2, 2, 3, 3, 3], "salary": [3, 4, 5, 6, 8, 11, 7, 9, 10]})
    # Execute
    report = assess(table, ["g"], sensitive="salary")
    # Assert: the third class {7k,9k,10k} is 17/72, below 0.375
    assert report.t_distance == "ordered"
    assert report.t_closeness == pytest.approx(0.375)


def test_assess_toy_prosecutor_risk_hand_worked() -> None:
    # Prepare: individual risks 1/3, 1/2, 1/5; threshold 0.2 → classes A and B (5 records) are at risk
    # Execute
    report = assess(TOY, ["age", "sex"], threshold=0.2)
    # Assert
    assert report.prosecutor.records_at_risk == pytest.approx(0.5)
    assert report.prosecutor.highest_risk == pytest.approx(0.5)
    assert report.prosecutor.average_risk == pytest.approx(0.3)
    assert report.marketer == pytest.approx(0.3)


def test_assess_without_population_journalist_equals_prosecutor() -> None:
    # Execute
    report = assess(TOY, ["age", "sex"])
    # Assert
    assert report.journalist == report.prosecutor
    assert report.journalist_population is False


def test_assess_with_population_journalist_hand_worked() -> None:
    # Prepare: F = 6, 2, 10 → risks 1/6, 1/2, 1/10; only B (2 records) exceeds 0.2
    # Execute
    report = assess(TOY, ["age", "sex"], population=POPULATION, threshold=0.2)
    # Assert: average = max(3/18, (3/6 + 2/2 + 5/10)/10) = 0.2; marketer = 0.2
    assert report.journalist_population is True
    assert report.journalist.records_at_risk == pytest.approx(0.2)
    assert report.journalist.highest_risk == pytest.approx(0.5)
    assert report.journalist.average_risk == pytest.approx(0.2)
    assert report.marketer == pytest.approx(0.2)
    assert report.prosecutor.average_risk == pytest.approx(0.3)


def test_assess_duckdb_table_name_and_relation_agree_with_arrow() -> None:
    # Prepare
    con = duckdb.connect()
    con.register("toy_view", TOY)
    con.execute("CREATE TABLE toy AS SELECT * FROM toy_view")
    # Execute
    by_name = assess("toy", ["age", "sex"], sensitive="dx", con=con)
    by_relation = assess(con.sql("SELECT * FROM toy"), ["age", "sex"], sensitive="dx", con=con)
    # Assert
    assert by_name == by_relation == assess(TOY, ["age", "sex"], sensitive="dx")


def test_assess_null_quasi_identifier_forms_its_own_class() -> None:
    # Prepare: NULL ages are one class of 2, not two singletons
    table = pa.table({"age": [None, None, 1, 1, 1], "sex": ["F", "F", "M", "M", "M"]})
    # Execute
    report = assess(table, ["age", "sex"])
    # Assert
    assert (report.classes, report.k) == (2, 2)


# one connection for the property tests: opening one per example costs more than the assessment
CON = duckdb.connect()
QI_VALUES = st.one_of(st.none(), st.integers(0, 3))
ROWS = st.lists(
    st.fixed_dictionaries({"a": QI_VALUES, "b": st.sampled_from(["x", "y", None]), "s": st.integers(0, 4)}),
    min_size=1,
    max_size=40,
)


def _arrow(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "a": pa.array([r["a"] for r in rows], pa.int64()),
            "b": pa.array([r["b"] for r in rows], pa.string()),
            "s": pa.array([r["s"] for r in rows], pa.int64()),
            "s_text": pa.array([f"v{r['s']}" for r in rows], pa.string()),
        }
    )


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, threshold=st.sampled_from([0.05, 0.2, 1 / 3, 0.5, 1.0]))
def test_assess_random_tables_match_reference(rows: list[dict[str, Any]], threshold: float) -> None:
    # Prepare
    table = _arrow(rows)
    # Execute
    report = assess(table, ["a", "b"], sensitive="s", threshold=threshold, con=CON)
    categorical = assess(table, ["a", "b"], sensitive="s_text", threshold=threshold, con=CON)
    # Assert
    expected = risks(rows, ["a", "b"], threshold)
    assert report.k == k_anonymity(rows, ["a", "b"])
    assert report.l_distinct == l_distinct(rows, ["a", "b"], "s")
    assert report.l_entropy == pytest.approx(l_entropy(rows, ["a", "b"], "s"))
    assert report.t_closeness == pytest.approx(t_closeness(rows, ["a", "b"], "s", ordered=True), abs=1e-12)
    text_rows = [{**r, "s": f"v{r['s']}"} for r in rows]
    assert categorical.t_closeness == pytest.approx(t_closeness(text_rows, ["a", "b"], "s", ordered=False), abs=1e-12)
    assert report.prosecutor.records_at_risk == pytest.approx(expected["p_at_risk"])
    assert report.prosecutor.highest_risk == pytest.approx(expected["p_highest"])
    assert report.prosecutor.average_risk == pytest.approx(expected["p_average"])
    assert report.marketer == pytest.approx(expected["marketer"])


@settings(max_examples=40, deadline=None)
@given(rows=ROWS, extra=ROWS, threshold=st.sampled_from([0.1, 0.25, 0.5]))
def test_assess_random_population_matches_reference(
    rows: list[dict[str, Any]], extra: list[dict[str, Any]], threshold: float
) -> None:
    # Prepare: the population is the sample plus other people
    population = rows + extra
    # Execute
    report = assess(_arrow(rows), ["a", "b"], population=_arrow(population), threshold=threshold, con=CON)
    # Assert
    expected = risks(rows, ["a", "b"], threshold, population)
    assert report.journalist.records_at_risk == pytest.approx(expected["j_at_risk"])
    assert report.journalist.highest_risk == pytest.approx(expected["j_highest"])
    assert report.journalist.average_risk == pytest.approx(expected["j_average"])
    assert report.marketer == pytest.approx(expected["marketer"])
    assert math.isclose(report.prosecutor.average_risk, expected["p_average"])
