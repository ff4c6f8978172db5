"""The site's own record of every job it was asked to run: kept at the hospital, hash-chained, append-only.

The hub audits what it asks; the site must be able to show its DRB what it actually ran or refused, even when the
hub's log is wrong or was rewritten. Each line of `SITE/audit/site-audit.jsonl` is one JSON object (sequence, UTC
time, event, outcome, details) with `hash` = SHA-256 of the previous line's hash and the entry's canonical JSON,
so an edited, removed or reordered line is found by `verify_site_audit`. Appends take an exclusive `flock` so
concurrent ClientApp processes of one SuperNode chain in order.

Entries never carry row-level data or direct identifiers: job ids, grant ids, hub user names, dataset ids, the
analysis type, an outcome and a short reason. Tracebacks go to the site's local log, never here or to the hub.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

GENESIS = "0" * 64
AUDIT_FILE = Path("audit") / "site-audit.jsonl"


def _canonical(entry: Mapping[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _chain(prev: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev + _canonical(entry)).encode("utf-8")).hexdigest()


def _last_line(fh: BinaryIO, block: int = 8192) -> str:
    """The file's last non-empty line, read backwards from the end (appends stay O(1) as the log grows)."""
    end = fh.seek(0, os.SEEK_END)
    tail, pos = b"", end
    while pos > 0:
        step = min(block, pos)
        pos -= step
        fh.seek(pos)
        tail = fh.read(step) + tail
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or pos == 0:
            return lines[-1].decode("utf-8").strip()
    return ""


@dataclass(frozen=True)
class SiteAuditLog:
    """The audit file of one site folder."""

    folder: Path

    @property
    def path(self) -> Path:
        """Where the lines are."""
        return self.folder / AUDIT_FILE

    def record(self, event: str, outcome: str, **details: Any) -> dict[str, Any]:
        """Append one entry (flushed and fsynced before returning) and return it with its hash."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                seq, prev = 0, GENESIS
                last_line = _last_line(fh)
                if last_line:
                    last = json.loads(last_line)
                    seq, prev = int(last["seq"]), str(last["hash"])
                entry: dict[str, Any] = {
                    "seq": seq + 1,
                    "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "event": event,
                    "outcome": outcome,
                    "details": json.loads(_canonical(details)),
                }
                entry["hash"] = _chain(prev, entry)
                fh.seek(0, os.SEEK_END)
                fh.write((_canonical(entry) + "\n").encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (empty when the site has run nothing)."""
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]


def verify_site_audit(log: SiteAuditLog) -> int | None:
    """The sequence number of the first entry whose chain breaks, or None when the whole file is intact."""
    prev, expected = GENESIS, 1
    try:
        entries = log.entries()
    except (OSError, ValueError):
        return 0
    for entry in entries:
        body = {k: v for k, v in entry.items() if k != "hash"}
        seq = body.get("seq")
        if seq != expected or entry.get("hash") != _chain(prev, body):
            return int(seq) if isinstance(seq, int) else expected
        prev, expected = str(entry["hash"]), expected + 1
    return None
