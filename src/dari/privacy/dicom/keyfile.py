"""The site key file for DICOM de-identification: what `dari privacy keygen` writes, or 32+ raw random bytes.

The CLI and the Python API read the key the same way and both use the key's own "dicom" sub-key, so a
file de-identified by `dari privacy deid-dicom` and one de-identified by `deidentify_file` with
`read_key_file(...)` get the same pseudonyms, UIDs and date shifts.
"""

from __future__ import annotations

import stat
from pathlib import Path

from dari.errors import InputError
from dari.privacy.keys import derive, load_key

# `head -c 32 /dev/urandom > site.key` gives 256 bits; fewer raw bytes are refused as too weak.
MIN_RAW_BYTES = 32


def _raw_key(path: Path) -> bytes | None:
    """The file's bytes exactly as stored, when it holds a raw binary key (not hex text) of enough bytes."""
    if not path.is_file() or stat.S_IMODE(path.stat().st_mode) & 0o077:
        return None  # load_key's own message (missing, exposed) is the one to show
    data = path.read_bytes()
    try:
        bytes.fromhex(data.decode("ascii").strip())
        return None  # hex text: load_key has the say (too short, empty)
    except (UnicodeDecodeError, ValueError):
        pass
    return data if len(data) >= MIN_RAW_BYTES else None


def read_key_file(path: Path) -> bytes:
    """The DICOM sub-key of the site key in `path` (hex from `dari privacy keygen`, or raw bytes, mode 600)."""
    try:
        key = load_key(path)
    except InputError:
        raw = _raw_key(path)
        if raw is None:
            raise
        key = raw
    return derive(key, "dicom")
