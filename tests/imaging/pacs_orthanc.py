"""A real Orthanc for a test module: started on free loopback ports, skipped loudly when Orthanc is absent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dari.imaging.pacs import DicomPeer, OrthancServer, orthanc_missing


@contextmanager
def running_orthanc(root: Path, peers: dict[str, DicomPeer] | None = None) -> Iterator[OrthancServer]:
    """Start Orthanc under `root` (skip the test with the reason when it is not installed); stop it after."""
    missing = orthanc_missing()
    if missing:
        pytest.skip(f"no real PACS: {missing}")
    with OrthancServer(root, peers=peers or {}) as server:
        yield server
