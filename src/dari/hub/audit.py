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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dari.errors import StoreError
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


class AuditDamagedError(StoreError):
    """The audit tables cannot be read at all (dropped, renamed, unreachable): the log cannot be vouched for."""

    exit_code = 6  # the same code as a broken chain: a log nobody can check is no better than a tampered one


class AuditProblem(BaseModel):
    """Where the chain breaks and how."""

    model_config = ConfigDict(frozen=True)
    seq: int
    kind: str
    message: str


class AuditVerification(BaseModel):
    """The result of checking the whole chain (and the witnessed heads, when given)."""

    model_config = ConfigDict(frozen=True)
    entries: int
    ok: bool
    problems: list[AuditProblem]
    witnessed: int = 0


_COLUMNS = "seq, at, actor, action, target, outcome, detail, prev_hash, hash"


def _raw_rows(session: Session) -> Iterator[Sequence[Any]]:
    """The entries as the database holds them, untyped, so one garbage row cannot stop the whole check."""
    try:
        result = session.execute(text(f"SELECT {_COLUMNS} FROM audit_entry ORDER BY seq"))
        yield from result
    except SQLAlchemyError:
        raise AuditDamagedError("the audit table audit_entry cannot be read (dropped or damaged)") from None


def _typed(row: Sequence[Any]) -> _Entry:
    """One raw row as typed values; ValueError/TypeError/KeyError when it is not a well-formed entry."""
    seq, at, actor, action, target, outcome, detail, prev_hash, digest = row
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise TypeError("seq is not an integer")
    when = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(str(at))
    info = json.loads(detail) if isinstance(detail, str | bytes) else detail
    if not isinstance(info, dict) or not all(isinstance(v, str) for v in (actor, action, target, outcome)):
        raise TypeError("not an entry")
    if not all(isinstance(v, str) and len(v) == 64 for v in (prev_hash, digest)):
        raise TypeError("hashes are not 64 hex digits")
    return _Entry(seq, when, actor, action, target, outcome, info, prev_hash, digest)


@dataclass(frozen=True)
class _Entry:
    seq: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def recompute(self, prev_hash: str) -> str:
        return entry_hash(
            prev_hash,
            seq=self.seq,
            at=self.at,
            actor=self.actor,
            action=self.action,
            target=self.target,
            outcome=self.outcome,
            detail=self.detail,
        )


def verify(session: Session, witnessed: Mapping[int, str] | None = None) -> AuditVerification:
    """Recompute the chain; report edited entries, gaps (deleted entries), reordering and a head that disagrees.

    `witnessed` maps sequence numbers to chain heads that parties outside the hub's database hold (signed
    checkpoints kept by sites, `dari.hub.audit_checkpoint`): the chain recomputed from the genesis hash must pass
    through each of them, which an insider who rewrote rows and recomputed every hash and the head cannot arrange.
    Raises `AuditDamagedError` when the audit table cannot be read at all.
    """
    problems: list[AuditProblem] = []
    pending = dict(witnessed or {})
    prev_hash, true_hash, expected_seq, count = GENESIS_HASH, GENESIS_HASH, 1, 0
    hashes_seen: dict[str, int] = {}
    for position, row in enumerate(_raw_rows(session), start=1):
        count += 1
        try:
            entry = _typed(row)
        except (ValueError, TypeError, KeyError):
            seq = expected_seq
            problems.append(
                AuditProblem(seq=seq, kind="unreadable", message=f"row {position} of audit_entry is not an entry")
            )
            expected_seq += 1
            true_hash = "unreadable"
            continue
        _check_entry(entry, prev_hash, expected_seq, hashes_seen, problems)
        true_hash = entry.recompute(true_hash)
        if entry.seq in pending:
            seen = pending.pop(entry.seq)
            if seen != true_hash:
                problems.append(
                    AuditProblem(
                        seq=entry.seq,
                        kind="witness-mismatch",
                        message=f"the log up to entry {entry.seq} is not the one a witness saw: rewritten at or "
                        "before it",
                    )
                )
        hashes_seen[entry.hash] = entry.seq
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    for seq in sorted(pending):
        problems.append(
            AuditProblem(
                seq=seq,
                kind="witness-missing",
                message=f"a witness saw entry {seq}; the log has no such entry (deleted or truncated)",
            )
        )
    problems.extend(_check_head(session, expected_seq - 1, prev_hash))
    return AuditVerification(entries=count, ok=not problems, problems=problems, witnessed=len(witnessed or {}))


def _check_entry(
    entry: _Entry, prev_hash: str, expected_seq: int, hashes_seen: dict[str, int], problems: list[AuditProblem]
) -> None:
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
    if entry.recompute(entry.prev_hash) != entry.hash:
        problems.append(
            AuditProblem(seq=entry.seq, kind="edited", message=f"entry {entry.seq} was changed after it was written")
        )


def _check_head(session: Session, last_seq: int, last_hash: str) -> list[AuditProblem]:
    try:
        heads = session.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).all()
    except SQLAlchemyError:
        raise AuditDamagedError("the audit table audit_head cannot be read (dropped or damaged)") from None
    if len(heads) != 1:
        return [AuditProblem(seq=last_seq, kind="head-missing", message="the chain's head row is missing")]
    seq, digest = heads[0]
    if seq != last_seq or digest != last_hash:
        shown = seq if isinstance(seq, int) and not isinstance(seq, bool) else "?"
        return [
            AuditProblem(
                seq=seq if isinstance(seq, int) else last_seq,
                kind="truncated",
                message=f"the chain head says entry {shown} is last, the log ends at {last_seq}",
            )
        ]
    return []
