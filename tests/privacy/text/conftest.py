"""Shared fixtures: Kiwi is loaded once per test session (it takes seconds)."""

from __future__ import annotations

from typing import Any

import pytest

from dari.privacy.text.corpus import LabelledDoc, make_corpus
from dari.privacy.text.names import kiwi


@pytest.fixture(scope="session", autouse=True)
def loaded_kiwi() -> Any:
    return kiwi()


@pytest.fixture(scope="session")
def corpus_300() -> list[LabelledDoc]:
    return make_corpus(300, seed=2024)
