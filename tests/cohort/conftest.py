"""Fixtures for the cohort tests: the hand-checkable tiny CDM, a small synthetic site, PostgreSQL if present."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cohort_tiny_cdm import build_tiny_cdm

from dari.cdm.store import CdmStore, open_store
from dari.cohort.backend import ibis_session
from dari.etl.pipeline import run_etl
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The eight-person CDM of cohort_tiny_cdm (read-only use)."""
    return build_tiny_cdm(tmp_path_factory.mktemp("cohort-tiny") / "cdm.duckdb")


@pytest.fixture
def tiny(tiny_path: Path) -> Iterator[CdmStore]:
    """The tiny CDM opened read-only, as a site would."""
    store = open_store(tiny_path)
    yield store
    store.close()


@pytest.fixture(scope="session")
def synthetic_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-1 of a synthetic network, 400 patients, with its DuckDB CDM built (read-only use)."""
    profile = network_profiles(1)[0]
    folder = tmp_path_factory.mktemp("cohort-network") / profile.site_id
    generate_site(profile, folder, 400, seed=23)
    run_etl(folder)
    return folder


@pytest.fixture(scope="module")
def pg() -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """An autocommit connection to the test server; skips LOUDLY when there is none."""
    try:
        con = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        reason = (
            f"!!! PostgreSQL NOT AVAILABLE at {PG_URL} ({type(exc).__name__}: {exc}); the DuckDB-vs-PostgreSQL "
            "cohort tests DID NOT RUN !!!"
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
        names.append(f"dari_cohort_{uuid.uuid4().hex[:12]}")
        return names[-1]

    yield make
    for name in names:
        for schema in (name, f"{name}_loading"):
            pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]


@pytest.fixture
def tiny_ibis(tiny: CdmStore) -> Iterator[Any]:
    """Ibis over the tiny CDM, as the cohort code opens it."""
    with ibis_session(tiny) as backend:
        yield backend
