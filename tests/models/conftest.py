"""Fixtures for the model-package tests: one small synthetic site with its CDM, and PostgreSQL when present."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dari.etl.pipeline import run_etl
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
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


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh schema URL on the test server (dropped after); skips LOUDLY when there is no server."""
    try:
        con = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        reason = (
            f"!!! PostgreSQL NOT AVAILABLE at {PG_URL} ({type(exc).__name__}: {exc}); the PostgreSQL "
            "feature-extraction tests DID NOT RUN !!!"
        )
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    schema = f"dari_models_{uuid.uuid4().hex[:12]}"
    yield f"{PG_URL}?schema={schema}"
    for name in (schema, f"{schema}_loading"):
        con.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')  # type: ignore[arg-type]
    con.close()
