"""Bad input raises InputError naming the column or parameter."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from dari.errors import InputError
from dari.privacy.risk import age_bands, assess, enforce_k, suppress_only

TABLE = pa.table({"age": [30, 31, 32], "sex": ["M", "F", "M"], "dx": ["a", "b", "c"]})


def test_assess_missing_quasi_identifier_names_column() -> None:
    # Execute / Assert
    with pytest.raises(InputError) as caught:
        assess(TABLE, ["age", "zipcode"])
    assert caught.value.column == "zipcode"


def test_assess_missing_sensitive_names_column() -> None:
    # Execute / Assert
    with pytest.raises(InputError) as caught:
        assess(TABLE, ["age"], sensitive="diagnosis")
    assert caught.value.column == "diagnosis"


def test_assess_population_missing_column_names_column() -> None:
    # Execute / Assert
    with pytest.raises(InputError, match="population") as caught:
        assess(TABLE, ["age", "sex"], population=pa.table({"age": [30]}))
    assert caught.value.column == "sex"


def test_assess_empty_table_rejected() -> None:
    # Execute / Assert
    with pytest.raises(InputError, match="empty"):
        assess(TABLE.slice(0, 0), ["age"])


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_assess_threshold_outside_range_names_parameter(threshold: float) -> None:
    # Execute / Assert
    with pytest.raises(InputError, match="threshold"):
        assess(TABLE, ["age"], threshold=threshold)


def test_assess_no_quasi_identifiers_rejected() -> None:
    # Execute / Assert
    with pytest.raises(InputError, match="quasi_identifiers"):
        assess(TABLE, [])


def test_assess_table_name_without_connection_rejected() -> None:
    # Execute / Assert
    with pytest.raises(InputError, match="con="):
        assess("patients", ["age"])


def test_assess_unknown_table_name_rejected() -> None:
    # Execute / Assert
    with pytest.raises(InputError, match="patients"):
        assess("patients", ["age"], con=duckdb.connect())


@pytest.mark.parametrize("k", [0, -1])
def test_enforce_k_k_below_one_names_parameter(k: int) -> None:
    # Execute / Assert
    with pytest.raises(InputError, match=r"\bk must"):
        enforce_k(TABLE, {"age": age_bands()}, k=k, max_suppression=0.05)


@pytest.mark.parametrize("limit", [-0.01, 1.01])
def test_enforce_k_suppression_outside_unit_interval_names_parameter(limit: float) -> None:
    # Execute / Assert
    with pytest.raises(InputError, match="max_suppression"):
        enforce_k(TABLE, {"age": age_bands()}, k=2, max_suppression=limit)


def test_enforce_k_missing_quasi_identifier_names_column() -> None:
    # Execute / Assert
    with pytest.raises(InputError) as caught:
        enforce_k(TABLE, {"age": age_bands(), "region": suppress_only()}, k=2, max_suppression=0.05)
    assert caught.value.column == "region"


def test_enforce_k_empty_table_rejected() -> None:
    # Execute / Assert
    with pytest.raises(InputError, match="empty"):
        enforce_k(TABLE.slice(0, 0), {"age": age_bands()}, k=2, max_suppression=0.05)


def test_enforce_k_unreachable_k_rejected() -> None:
    # Execute / Assert: three records can never form a class of 5 without suppressing them all
    with pytest.raises(InputError, match="k=5"):
        enforce_k(TABLE, {"age": age_bands(), "sex": suppress_only()}, k=5, max_suppression=0.5)
