"""The hub's audit log: append-only and hash-chained, so an edited, deleted or reordered entry is found.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical JSON (sequence number, time,
actor, action, target, outcome, detail). Appends lock the single `audit_head` row, so concurrent writers chain in
order on PostgreSQL; the database's own triggers refuse UPDATE and DELETE. `verify` recomputes the chain from the
genesis hash and names the first sequence number where it breaks.

Details never carry direct identifiers: actors are user names of the hub, targets are hub object ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.db.models import AuditEntry, AuditHead, utcnow

GENESIS_HASH = "0" * 64
_MAX_DETAIL_CHARS = 4000


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str,
    outcome: str,
    detail: Mapping[str, Any],
) -> str:
    """SHA-256 of the previous hash and the entry's canonical JSON."""
    body = json.dumps(
        {
            "seq": seq,
            "at": _canonical_time(at),
            "actor": actor,
            "action": action,
            "target": target,
            "outcome": outcome,
            "detail": detail,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _canonical_time(at: dt.datetime) -> str:
    # SQLite hands back naive datetimes: they were written as UTC, so read them as UTC.
    aware = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's transaction (it commits or rolls back with the action it records)."""
    info = json.loads(json.dumps(dict(detail or {}), ensure_ascii=False, default=str))
    if len(json.dumps(info, ensure_ascii=False)) > _MAX_DETAIL_CHARS:
        info = {"truncated": True, "keys": sorted(info)}
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    at = utcnow()
    seq = head.seq + 1
    digest = entry_hash(
        head.hash, seq=seq, at=at, actor=actor, action=action, target=target, outcome=outcome, detail=info
    )
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        detail=info,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.seq, head.hash = seq, digest
    session.flush()
    return entry


def record_alone(factory: sessionmaker[Session], **kwargs: Any) -> None:
    """Append an entry in its own transaction: for refused actions, whose own transaction is rolled back."""
    with factory() as session, session.begin():
        record(session, **kwargs)


class AuditProblem(BaseModel):
    """Where the chain breaks and how."""

    model_config = ConfigDict(frozen=True)
    seq: int
    kind: str
    message: str


class AuditVerification(BaseModel):
    """The result of checking the whole chain."""

    model_config = ConfigDict(frozen=True)
    entries: int
    ok: bool
    problems: list[AuditProblem]


def verify(session: Session) -> AuditVerification:
    """Recompute the chain; report edited entries, gaps (deleted entries), reordering and a head that disagrees."""
    problems: list[AuditProblem] = []
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    hashes_seen: dict[str, int] = {}
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        count += 1
        if entry.seq != expected_seq:
            problems.append(
                AuditProblem(
                    seq=entry.seq,
                    kind="gap",
                    message=f"entries {expected_seq}..{entry.seq - 1} are missing (deleted)",
                )
            )
        if entry.prev_hash != prev_hash:
            moved_from = hashes_seen.get(entry.prev_hash)
            kind = "reordered" if moved_from is not None and moved_from != entry.seq - 1 else "broken-link"
            problems.append(
                AuditProblem(
                    seq=entry.seq,
                    kind=kind,
                    message=f"entry {entry.seq} does not follow the entry before it (its previous-hash differs)",
                )
            )
        recomputed = entry_hash(
            entry.prev_hash,
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            outcome=entry.outcome,
            detail=entry.detail,
        )
        if recomputed != entry.hash:
            problems.append(
                AuditProblem(
                    seq=entry.seq, kind="edited", message=f"entry {entry.seq} was changed after it was written"
                )
            )
        hashes_seen[entry.hash] = entry.seq
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if head.seq != expected_seq - 1 or head.hash != prev_hash:
        problems.append(
            AuditProblem(
                seq=head.seq,
                kind="truncated",
                message=f"the chain head says entry {head.seq} is last, the log ends at {expected_seq - 1}",
            )
        )
    return AuditVerification(entries=count, ok=not problems, problems=problems)
