"""Fixtures for the model-package tests: one small synthetic site with its CDM, and PostgreSQL when present."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dari.etl.pipeline import run_etl
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles
from pg_server import PG_URL

SITE_PATIENTS = 600
SITE_SEED = 23


@pytest.fixture(scope="session")
def models_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-2 (creatinine in µmol/L) of a synthetic network, 600 patients, CDM built without pseudonymisation.

    Without pseudonymisation person_id follows the sorted patient numbers, so the truth file can be joined.
    """
    profile = network_profiles(2)[1]
    folder = tmp_path_factory.mktemp("models-network") / profile.site_id
    generate_site(profile, folder, SITE_PATIENTS, seed=SITE_SEED)
    run_etl(folder)
    return folder


@pytest.fixture
def pg_url(pg_schema: Callable[[], str]) -> str:
    """A fresh schema's URL on the test server (dropped after; skipped loudly when there is no server)."""
    return f"{PG_URL}?schema={pg_schema()}"
