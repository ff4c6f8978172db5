"""Fixtures for the CDM schema and store tests: one small synthetic site, (PostgreSQL fixtures: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dari.etl.pipeline import run_etl
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles


@pytest.fixture(scope="session")
def cdm_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-2 (CP949) of a synthetic network, 150 patients, with its DuckDB CDM built (read-only use)."""
    profile = network_profiles(2)[1]
    folder = tmp_path_factory.mktemp("cdm-network") / profile.site_id
    generate_site(profile, folder, 150, seed=11)
    run_etl(folder)
    return folder
