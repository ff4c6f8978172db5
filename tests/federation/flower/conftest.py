"""Fixtures of the Flower tests: two small synthetic sites built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from flower_fixtures import build_sites


@pytest.fixture(scope="session")
def flower_sites(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """site-1 and site-2 of a synthetic network, 1,500 patients each."""
    return build_sites(tmp_path_factory.mktemp("flower-net"))
