"""Signed checkpoints of the audit chain's head, kept by parties the hub's insiders do not control (RFC 6962 style).

The hash chain (`dari.hub.audit`) finds an edit only as long as nobody recomputes the hashes after it: an insider
with database rights can delete rows, recompute every hash and the head, and the chain verifies again. A
checkpoint — {seq, head hash, time, hub key id} signed with the hub's Ed25519 key, which lives in a file of its own
(`dari.hub.keys`), never in the database — is handed to every site with each job and kept there
(`dari.federation.witness.WitnessStore`). `dari audit verify --witness …` then requires the recomputed chain to pass
through every witnessed (seq, head): a rewrite at or before a witnessed entry is found.

What witnesses cannot show: a rewrite of entries after the last checkpoint any witness holds (nobody outside saw
them), and a hub that withholds checkpoints altogether. Sites should therefore be handed a fresh checkpoint with
every job, and an auditor should gather the witnesses of several sites.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dari.errors import DariError, InputError
from dari.hub.audit import GENESIS_HASH, AuditDamagedError
from dari.hub.db.models import utcnow
from dari.hub.keys import HubKeyPaths
from dari.signing import SignatureError, SignedEnvelope, key_id, sign_claims, verify_envelope

CHECKPOINT_KIND = "dari.audit.checkpoint"
# Files a witness folder may hold: a site's store (`WitnessStore`) and single exported checkpoints.
WITNESS_PATTERNS = ("*.checkpoints.jsonl", "*.checkpoint.json")


class WitnessConflictError(DariError):
    """Two checkpoints, both signed by the hub, that cannot both be true: the hub's log was forked or rolled back."""

    exit_code = 6  # evidence of tampering, as `dari audit verify` reports it


class Checkpoint(BaseModel):
    """What a checkpoint says: the chain's last sequence number and hash at a moment, and which key signed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = Field(pattern=f"^{CHECKPOINT_KIND}$")
    seq: int = Field(ge=0)
    head: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: str = Field(description="UTC time of signing, ISO 8601")
    hub_key_id: str = Field(pattern=r"^[0-9a-f]{64}$")


def latest_checkpoint(session: Session, keys: HubKeyPaths) -> SignedEnvelope:
    """Sign the chain's current head (refused when the head row and the last entry disagree)."""
    private = keys.private_key()
    try:
        head = session.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one_or_none()
        last = session.execute(text("SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1")).one_or_none()
    except SQLAlchemyError:
        raise AuditDamagedError("the audit tables cannot be read: no checkpoint signed") from None
    if head is None:
        raise AuditDamagedError("the audit chain's head row is missing: no checkpoint signed")
    seq, digest = head
    last_seq, last_hash = last if last is not None else (0, GENESIS_HASH)
    if (seq, digest) != (last_seq, last_hash):
        raise AuditDamagedError(f"the audit head (entry {seq}) disagrees with the last entry ({last_seq})")
    claims = Checkpoint(
        kind=CHECKPOINT_KIND,
        seq=int(seq),
        head=str(digest),
        at=utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        hub_key_id=key_id(private.public_key()),
    )
    return sign_claims(claims.model_dump(), private)


def store_checkpoint(store: str | Path) -> SignedEnvelope:
    """The latest checkpoint of the hub store at `store` (a SQLite path or URL), signed with that hub's key file."""
    from dari.hub.db.engine import make_engine, require_schema, session_factory
    from dari.hub.keys import hub_key_paths

    engine = make_engine(store)
    try:
        require_schema(engine)
        with session_factory(engine)() as session:
            return latest_checkpoint(session, hub_key_paths(store))
    finally:
        engine.dispose()


def open_checkpoint(envelope: SignedEnvelope, hub_public_key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint an envelope carries, once its signature verifies with the hub's public key."""
    claims = verify_envelope(envelope, hub_public_key)
    try:
        return Checkpoint.model_validate(claims)
    except ValidationError:
        raise SignatureError("a signed envelope that is not an audit checkpoint") from None


def read_envelopes(path: Path) -> list[SignedEnvelope]:
    """The envelopes of one witness file: JSON lines (a site's store) or one JSON envelope or list of them."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the witness file: {exc}", file=str(path)) from None
    docs: list[object] = []
    try:
        if path.suffix == ".jsonl":
            docs = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            loaded = json.loads(raw)
            docs = loaded if isinstance(loaded, list) else [loaded]
        # A site's store wraps each envelope with the time it was received.
        return [
            SignedEnvelope.model_validate(d["envelope"] if isinstance(d, dict) and "envelope" in d else d) for d in docs
        ]
    except (json.JSONDecodeError, ValidationError, TypeError):
        raise InputError("not a file of signed audit checkpoints", file=str(path)) from None


def witness_files(paths: Iterable[Path]) -> list[Path]:
    """Every witness file named, folders expanded to the checkpoint files they hold."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted({f for pattern in WITNESS_PATTERNS for f in path.rglob(pattern)})
            if not inside:
                raise InputError("the folder holds no checkpoint files (*.checkpoints.jsonl)", file=str(path))
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise InputError("witness file not found", file=str(path))
    return found


def witnessed_heads(paths: Iterable[Path], hub_public_key: Ed25519PublicKey) -> dict[int, str]:
    """(seq → head) of every checkpoint in the witness files; refused when one does not verify or two disagree."""
    heads: dict[int, str] = {}
    for path in witness_files(paths):
        for number, envelope in enumerate(read_envelopes(path), start=1):
            try:
                checkpoint = open_checkpoint(envelope, hub_public_key)
            except SignatureError as exc:
                raise InputError(f"checkpoint {number}: {exc}", file=str(path)) from None
            seen = heads.setdefault(checkpoint.seq, checkpoint.head)
            if seen != checkpoint.head:
                # Two heads signed for one entry: the hub itself forked its log (or its key was stolen).
                raise WitnessConflictError(
                    f"file {path}: checkpoint {number} signs a different head for entry {checkpoint.seq} than "
                    "another witness: the hub's log was forked"
                )
    return heads
