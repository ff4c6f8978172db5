"""Put a site's synthetic studies into its PACS (STOW-RS in batches) and give the site its de-identification key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pydicom

from dari.errors import InputError
from dari.imaging.dicomweb import PacsClient, StoreResult
from dari.imaging.pacs import PacsError

STUDIES = Path("imaging") / "studies"


def load_studies(folder: Path, client: PacsClient, batch: int = 50) -> StoreResult:
    """STOW-RS every file of folder/imaging/studies/ (read only); refused ones named with the PACS's reason code."""
    files = sorted((folder / STUDIES).glob("*.dcm"))
    if not files:
        raise InputError("no studies to load (run `dari imaging synth` first)", file=str(folder / STUDIES))
    stored: list[str] = []
    failed: dict[str, int] = {}
    for start in range(0, len(files), batch):
        datasets = [pydicom.dcmread(f) for f in files[start : start + batch]]
        result = client.store(datasets)
        stored += result.stored
        failed |= result.failed
    if failed:
        raise PacsError(f"the PACS refused {len(failed)} of {len(files)} instances (first: {next(iter(failed))})")
    return StoreResult(stored=tuple(stored), failed=failed)


def ensure_deid_key(folder: Path, relative: Path) -> Path:
    """The site's de-identification key file (hex, mode 0600), created once with 256 random bits if absent."""
    path = folder / relative
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path
