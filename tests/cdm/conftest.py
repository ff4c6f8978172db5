"""Fixtures for the CDM schema and store tests: one small synthetic site, and a PostgreSQL server if present."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dari.etl.pipeline import run_etl
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def cdm_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-2 (CP949) of a synthetic network, 150 patients, with its DuckDB CDM built (read-only use)."""
    profile = network_profiles(2)[1]
    folder = tmp_path_factory.mktemp("cdm-network") / profile.site_id
    generate_site(profile, folder, 150, seed=11)
    run_etl(folder)
    return folder


@pytest.fixture(scope="module")
def pg() -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """An autocommit connection to the test server; skips LOUDLY when there is none."""
    try:
        con = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        reason = (
            f"!!! PostgreSQL NOT AVAILABLE at {PG_URL} ({type(exc).__name__}: {exc}); the PostgreSQL "
            "store tests DID NOT RUN !!!"
        )
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    yield con
    con.close()


@pytest.fixture
def pg_schema(pg: psycopg.Connection[tuple[Any, ...]]) -> Iterator[Callable[[], str]]:
    """A factory of unique schema names; every schema it named (and its `_loading` twin) is dropped after."""
    names: list[str] = []

    def make() -> str:
        names.append(f"dari_test_{uuid.uuid4().hex[:12]}")
        return names[-1]

    yield make
    for name in names:
        for schema in (name, f"{name}_loading"):
            pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]
