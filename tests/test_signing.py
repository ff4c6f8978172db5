"""Signed envelopes: canonical bytes, tamper detection, untrusted keys, key-file permissions."""

from __future__ import annotations

from pathlib import Path

import pytest

from dari.errors import InputError
from dari.signing import (
    SignatureError,
    SignedEnvelope,
    create_key_pair,
    load_private_key,
    load_public_key,
    sign_claims,
    verify_envelope,
)


def _keys(tmp_path: Path, name: str = "hub") -> tuple[Path, Path]:
    private, public = tmp_path / f"{name}.key", tmp_path / f"{name}.pub"
    create_key_pair(private, public)
    return private, public


def test_signing_round_trip_keeps_korean_claims(tmp_path: Path) -> None:
    # Prepare
    private, public = _keys(tmp_path)
    # Execute
    envelope = sign_claims({"b": 1, "a": "서울대병원"}, load_private_key(private))
    # Assert
    assert envelope.payload == '{"a":"서울대병원","b":1}'
    assert verify_envelope(envelope, load_public_key(public)) == {"a": "서울대병원", "b": 1}


def test_signing_tampered_payload_refused(tmp_path: Path) -> None:
    private, public = _keys(tmp_path)
    envelope = sign_claims({"grant": "g-1"}, load_private_key(private))
    forged = SignedEnvelope(payload='{"grant":"g-2"}', key_id=envelope.key_id, signature=envelope.signature)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(forged, load_public_key(public))


def test_signing_other_key_refused(tmp_path: Path) -> None:
    private, _ = _keys(tmp_path, "attacker")
    _, public = _keys(tmp_path, "hub")
    envelope = sign_claims({"grant": "g-1"}, load_private_key(private))
    with pytest.raises(SignatureError, match="does not trust"):
        verify_envelope(envelope, load_public_key(public))


def test_signing_key_readable_by_others_refused(tmp_path: Path) -> None:
    private, _ = _keys(tmp_path)
    private.chmod(0o644)
    with pytest.raises(InputError, match="chmod 600"):
        load_private_key(private)


def test_signing_key_never_overwritten(tmp_path: Path) -> None:
    private, public = _keys(tmp_path)
    before = private.read_bytes()
    with pytest.raises(InputError, match="refusing to overwrite"):
        create_key_pair(private, public)
    assert private.read_bytes() == before


def test_hub_key_beside_sqlite_store_created_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dari.hub.keys import KEY_ENV, ensure_hub_key

    monkeypatch.delenv(KEY_ENV, raising=False)
    paths = ensure_hub_key(tmp_path / "hub.db")
    first = paths.private.read_bytes()
    assert paths.private == tmp_path / "hub.signing.key"
    assert paths.private.stat().st_mode & 0o777 == 0o600
    assert ensure_hub_key(tmp_path / "hub.db").private.read_bytes() == first


def test_hub_key_postgres_store_needs_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from dari.hub.keys import KEY_ENV, hub_key_paths

    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(InputError, match=KEY_ENV):
        hub_key_paths("postgresql://localhost/hub")
