"""A site's copy of the hub's audit checkpoints: what the hub's log looked like each time it handed the site a job.

The hub signs a checkpoint of its audit chain's head (`dari.hub.audit_checkpoint`) and hands it to the site with
every job. The site verifies it with the hub's public key (received out of band when it joined) and appends it to
`SITE/audit/hub.checkpoints.jsonl`, a file the hub cannot reach. An auditor later runs `dari audit verify --witness`
with these files: a rewrite of the hub's log at or before any entry a site witnessed is found.

The store refuses what it cannot check (a bad signature, another key, not a checkpoint) and keeps, then reports, what
proves the hub lied: a second head for a sequence number already witnessed, or a later checkpoint with a shorter
log (a rollback). Appends take an exclusive `flock` so concurrent ClientApp processes of one SuperNode do not
interleave lines. Nothing here is patient data: sequence numbers, hashes, times and a key id.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dari.atomic import atomic_path
from dari.hub.audit_checkpoint import Checkpoint, WitnessConflictError, open_checkpoint, read_envelopes
from dari.signing import SignedEnvelope, key_id

WITNESS_FILE = Path("audit") / "hub.checkpoints.jsonl"


@dataclass(frozen=True)
class WitnessStore:
    """The checkpoints one site folder has been handed, append-only."""

    site_folder: Path

    @property
    def path(self) -> Path:
        """Where the checkpoints are kept."""
        return Path(self.site_folder) / WITNESS_FILE

    def keep(self, envelope: SignedEnvelope, hub_public_key: Ed25519PublicKey) -> Checkpoint:
        """Verify a checkpoint and append it; `WitnessConflictError` (after keeping it) when it contradicts one kept."""
        checkpoint = open_checkpoint(envelope, hub_public_key)  # SignatureError before anything is written
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0)
                # A site may have trusted another hub key before (a re-keyed or test hub): histories are per key.
                kept = [
                    k
                    for k in (_checkpoint_of(line) for line in fh if line.strip())
                    if k.hub_key_id == checkpoint.hub_key_id
                ]
                if any(k.seq == checkpoint.seq and k.head == checkpoint.head for k in kept):
                    return checkpoint  # seen already: one line per distinct head is enough
                line = {"received_at": _now(), "envelope": envelope.model_dump()}
                fh.seek(0, os.SEEK_END)
                fh.write(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        _refuse_contradiction(checkpoint, kept)
        return checkpoint

    def envelopes(self) -> list[SignedEnvelope]:
        """Every kept checkpoint as it was signed, oldest first."""
        return read_envelopes(self.path) if self.path.is_file() else []

    def checkpoints(self, hub_public_key: Ed25519PublicKey) -> list[Checkpoint]:
        """Every kept checkpoint signed by this hub key, re-verified, oldest first."""
        kid = key_id(hub_public_key)
        return [open_checkpoint(e, hub_public_key) for e in self.envelopes() if e.key_id == kid]

    def export(self, destination: Path) -> Path:
        """Copy the store for an auditor (a folder gets `<site>.checkpoints.jsonl`); returns the file written."""
        target = destination / f"{Path(self.site_folder).resolve().name}.checkpoints.jsonl"
        target = target if destination.is_dir() else destination
        with atomic_path(target) as tmp:
            if self.path.is_file():
                shutil.copyfile(self.path, tmp)
            else:
                tmp.write_text("", encoding="utf-8")
        return target


def _checkpoint_of(line: str) -> Checkpoint:
    # Kept lines were verified when they were appended; read them back without the key (hash fields only).
    envelope = SignedEnvelope.model_validate(json.loads(line)["envelope"])
    return Checkpoint.model_validate(envelope.claims())


def _refuse_contradiction(new: Checkpoint, kept: list[Checkpoint]) -> None:
    for old in kept:
        if old.seq == new.seq and old.head != new.head:
            raise WitnessConflictError(
                f"the hub signed two different heads for its audit entry {new.seq}: its log was rewritten"
            )
        if old.at < new.at and new.seq < old.seq:
            raise WitnessConflictError(
                f"the hub's audit log went back from entry {old.seq} to {new.seq}: entries were removed"
            )


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
