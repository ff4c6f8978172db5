"""Fixtures for the dari.quality tests."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from quality_cdm import load_small_cdm

from dari.cdm.store import DuckDbStore


@pytest.fixture
def cdm() -> Iterator[DuckDbStore]:
    """A fresh in-memory DuckDB holding the small valid CDM."""
    con = duckdb.connect()
    load_small_cdm(con)
    store = DuckDbStore(con=con, label="small test CDM")
    yield store
    store.close()
