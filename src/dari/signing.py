"""Ed25519 keys and signed JSON envelopes: how the hub's word reaches a site so the site can check it.

The hub holds one Ed25519 private key in a file of its own (mode 0600, never in the hub's database, never on a
command line); every site holds the matching public key, given to it out of band when it joins the consortium.
What the hub signs with it: job tickets (`dari.federation.ticket`) and checkpoints of the audit chain's head
(`dari.hub.audit`). A signed envelope is canonical JSON (sorted keys, no spaces, UTF-8) with a detached signature
over exactly those bytes, so any party can re-verify it without re-serialising.

Written on `cryptography` (a maintained binding of OpenSSL); JWS libraries were not used because the envelope must
be byte-stable for witnesses to compare, and Ed25519 JWS support differs between them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from dari.atomic import atomic_path
from dari.errors import InputError


class SignatureError(InputError):
    """A signature that does not verify, or a key that cannot be used; the message never quotes secret material."""


class SignedEnvelope(BaseModel):
    """Canonical JSON claims, the signer's key id and an Ed25519 signature over the claims' bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    payload: str = Field(description="canonical JSON of the claims (sorted keys, no spaces)")
    key_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the signer's raw public key")
    signature: str = Field(description="base64url Ed25519 signature over payload's UTF-8 bytes")

    def claims(self) -> dict[str, Any]:
        """The payload as a dict (call only after `verify_envelope`)."""
        value = json.loads(self.payload)
        if not isinstance(value, dict):
            raise SignatureError("a signed payload must be a JSON object")
        return value


def canonical_json(claims: Mapping[str, Any]) -> str:
    """The one serialisation that is signed: sorted keys, compact separators, non-ASCII kept as UTF-8."""
    return json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def key_id(key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the key's 32 raw bytes (the same fingerprint offline bundles print)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def create_key_pair(private_path: Path, public_path: Path) -> str:
    """A new Ed25519 key pair (private key mode 0600, never overwritten); returns the public key's id."""
    if private_path.exists():
        raise InputError("a signing key exists here already; refusing to overwrite it", file=str(private_path))
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with atomic_path(private_path) as tmp:
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
    with atomic_path(public_path) as tmp:
        tmp.write_bytes(public_pem(key.public_key()))
    return key_id(key.public_key())


def public_pem(key: Ed25519PublicKey) -> bytes:
    """The public key as PEM (SubjectPublicKeyInfo)."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file that only its owner can read."""
    try:
        mode = path.stat().st_mode & 0o077
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the signing key: {exc.strerror}", file=str(path)) from None
    if mode:
        raise InputError("the signing key is readable by others: chmod 600 it", file=str(path))
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise InputError("not a PEM private key", file=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("the signing key must be an Ed25519 private key (PEM)", file=str(path))
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the public key: {exc.strerror}", file=str(path)) from None
    return parse_public_key(data, source=str(path))


def parse_public_key(pem: bytes, *, source: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM bytes; `source` names where they came from in the error."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise InputError("not a PEM public key", file=source) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"the key must be Ed25519, got {type(key).__name__}", file=source)
    return key


def sign_claims(claims: Mapping[str, Any], key: Ed25519PrivateKey) -> SignedEnvelope:
    """Sign the canonical JSON of `claims`."""
    payload = canonical_json(claims)
    signature = key.sign(payload.encode("utf-8"))
    return SignedEnvelope(
        payload=payload,
        key_id=key_id(key.public_key()),
        signature=base64.urlsafe_b64encode(signature).decode("ascii"),
    )


def verify_envelope(envelope: SignedEnvelope, trusted: Ed25519PublicKey) -> dict[str, Any]:
    """The claims when the envelope's signature verifies with `trusted`; `SignatureError` otherwise."""
    if envelope.key_id != key_id(trusted):
        raise SignatureError("signed by a key this party does not trust")
    try:
        signature = base64.urlsafe_b64decode(envelope.signature.encode("ascii"))
        trusted.verify(signature, envelope.payload.encode("utf-8"))
    except (InvalidSignature, ValueError):
        raise SignatureError("the signature does not verify") from None
    return envelope.claims()
