"""Fixtures of the Flower tests: two small synthetic sites built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from flower_fixtures import build_sites

from dari.federation.ledger import DB_FILE, LEDGER_DIR


@pytest.fixture(scope="session")
def flower_sites(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """site-1 and site-2 of a synthetic network, 1,500 patients each."""
    return build_sites(tmp_path_factory.mktemp("flower-net"))


@pytest.fixture(autouse=True)
def _fresh_release_ledgers(request: pytest.FixtureRequest) -> None:
    """Each test meets the shared sites with no releases on record (the site secret, and so the noise, stays).

    The ledger refuses a release that differences an earlier one (tests/attacks/test_differencing.py); these tests
    are about other things and must not depend on which tests ran before them.
    """
    if "flower_sites" in request.fixturenames:
        for site in request.getfixturevalue("flower_sites"):
            for db in (site / LEDGER_DIR).glob(f"{DB_FILE}*"):
                db.unlink()
