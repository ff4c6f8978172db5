"""Site keys for keyed pseudonyms: created with owner-only permissions, refused when exposed.

Under Korea's pseudonymisation guideline a hash of an identifier with a known algorithm and no secret is still an
identifier (anyone can hash candidate values), so every pseudonym in dari is an HMAC-SHA256 under a key the site
holds outside the data.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from dari.errors import InputError

KEY_BYTES = 32


def create_key_file(path: Path) -> None:
    """Write a new random key to `path` (mode 0600); an existing key is never overwritten."""
    if path.exists():
        raise InputError("a key file already exists here; refusing to overwrite it", file=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL + mode at creation: the key is never readable by others, not even for a moment
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(KEY_BYTES).hex().encode() + b"\n")


def load_key(path: Path) -> bytes:
    """Read a site key; refuse a missing, empty, malformed or group/world-readable key file."""
    if not path.is_file():
        raise InputError("key file not found (create one with `dari privacy keygen`)", file=str(path))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InputError(f"key file is readable by others (mode {mode:o}); chmod 600 it", file=str(path))
    text = path.read_bytes().strip()
    if not text:
        raise InputError("key file is empty", file=str(path))
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError("key file must hold a hex-encoded key", file=str(path)) from exc
    if len(key) < 16:
        raise InputError("key is shorter than 128 bits", file=str(path))
    return key


def derive(key: bytes, purpose: str) -> bytes:
    """A sub-key for one purpose (pseudonyms, date shifts, linkage…), so one key never serves two uses."""
    return hmac.new(key, f"dari:{purpose}".encode(), hashlib.sha256).digest()
