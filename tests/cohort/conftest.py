"""Fixtures for the cohort tests: the hand-checkable tiny CDM, a small synthetic site, PostgreSQL if present."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cohort_tiny_cdm import build_tiny_cdm

from dari.cdm.store import CdmStore, open_store
from dari.cohort.backend import ibis_session
from dari.etl.pipeline import run_etl
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles


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


@pytest.fixture
def tiny_ibis(tiny: CdmStore) -> Iterator[Any]:
    """Ibis over the tiny CDM, as the cohort code opens it."""
    with ibis_session(tiny) as backend:
        yield backend
