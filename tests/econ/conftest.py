import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import json
from typing import Any

import pytest


@pytest.fixture(scope="session")
def validation_doc() -> dict[str, Any]:
    """A results document as `dari validate --json` writes it."""
    from validated import build_results

    return build_results()


@pytest.fixture(scope="session")
def validation_file(tmp_path_factory: pytest.TempPathFactory, validation_doc: dict[str, Any]) -> Path:
    """That document on disk."""
    path = tmp_path_factory.mktemp("validation") / "results.json"
    path.write_text(json.dumps(validation_doc, indent=2, allow_nan=True), encoding="utf-8")
    return path
