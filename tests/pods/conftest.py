"""Fixtures of the pod tests: one synthetic site (extract → CDM) shared by the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

from dari.etl.pipeline import run_etl
from dari.synth.network import generate_site
from dari.synth.sites import network_profiles

POD_PATIENTS = 200


@pytest.fixture(scope="session")
def pod_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic site folder with its CDM (and the synth marker, so `--no-governance` may run on it)."""
    folder = tmp_path_factory.mktemp("podbox") / "site-1"
    generate_site(network_profiles(1)[0], folder, POD_PATIENTS, seed=23)
    run_etl(folder)
    return folder
