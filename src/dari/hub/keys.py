"""Where the hub's signing key lives: a file of its own, never in the hub's database, never on a command line.

An insider who can rewrite the database cannot forge what the key signs (job tickets, audit checkpoints) unless
they also hold this file. Location: `DARI_HUB_KEY` (path of the private key; the public key is beside it with
`.pub`), else, for a SQLite store `hub.db`, `hub.signing.key` / `hub.signing.pub` in the store's folder. A
PostgreSQL hub must name its key with `DARI_HUB_KEY`. Sites receive only the public key (out of band, when they
join), and a witness needs only that to check checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dari.errors import InputError
from dari.signing import create_key_pair, load_private_key, load_public_key

KEY_ENV = "DARI_HUB_KEY"


@dataclass(frozen=True)
class HubKeyPaths:
    """The hub's private signing key and its public half."""

    private: Path
    public: Path

    def exists(self) -> bool:
        """Whether the private key file is there."""
        return self.private.is_file()

    def private_key(self) -> Ed25519PrivateKey:
        """The private key (refused unless the file is owner-only)."""
        if not self.exists():
            raise InputError("the hub has no signing key: run `dari hub init`", file=str(self.private))
        return load_private_key(self.private)

    def public_key(self) -> Ed25519PublicKey:
        """The public key, as sites and witnesses hold it."""
        return load_public_key(self.public)


def hub_key_paths(store: str | Path) -> HubKeyPaths:
    """The key files of the hub whose store is `store` (a SQLite path or a database URL)."""
    named = os.environ.get(KEY_ENV)
    if named:
        private = Path(named)
    else:
        text = str(store)
        if "://" in text and not text.startswith("sqlite:///"):
            raise InputError(f"a hub on {text.split('://', 1)[0]} names its signing key file with {KEY_ENV}")
        path = Path(text.removeprefix("sqlite:///"))
        private = path.with_name(path.stem + ".signing.key")
    return HubKeyPaths(private=private, public=private.with_suffix(".pub"))


def ensure_hub_key(store: str | Path) -> HubKeyPaths:
    """The hub's key files, created (mode 0600) when missing; an existing key is never replaced."""
    paths = hub_key_paths(store)
    if not paths.exists():
        paths.private.parent.mkdir(parents=True, exist_ok=True)
        create_key_pair(paths.private, paths.public)
    return paths
