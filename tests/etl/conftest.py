"""Fixtures for the ETL tests: one small synthetic network per session, and throw-away copies of its sites."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dari.synth.network import generate_network

# The helpers module sits beside this file; pytest runs with --import-mode=importlib, which does not put
# test folders on sys.path, so add this one for `import etl_helpers` (here and in the test modules).
sys.path.insert(0, str(Path(__file__).parent))
from etl_helpers import PATIENTS_PER_SITE, SEED


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three synthetic sites (UTF-8 BOM, CP949, UTF-8) of 400 patients each, extract and CDM (read-only use)."""
    out = tmp_path_factory.mktemp("network")
    generate_network(out, sites=3, patients_per_site=PATIENTS_PER_SITE, seed=SEED)
    return out


@pytest.fixture
def site_copy(network: Path, tmp_path: Path) -> Callable[[str], Path]:
    """Copy one site folder (extract, cdm.duckdb, truth) of the session network to break it freely."""

    made: list[Path] = []

    def copy(site_id: str) -> Path:
        made.append(Path(shutil.copytree(network / site_id, tmp_path / f"copy-{len(made)}" / site_id)))
        return made[-1]

    return copy
