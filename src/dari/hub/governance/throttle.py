"""Login throttling: exponential backoff, then lockout, per account and per client address, kept in the hub store.

Counted in the store (table `login_throttle`) so that every worker of a hub (several uvicorn processes, several
hosts on one PostgreSQL) sees the same counts. Accounts and addresses are kept as SHA-256 hashes only: a name typed
by mistake (a password in the user-name field) is not written down in clear.

Rule: the first `free_failures` failures of a key cost nothing; each further one locks the key for
`base_delay_s · 2^(n − free − 1)` seconds, at most `max_delay_s` (the lockout). While a key is locked every login
for it is refused without the password being checked — the right password too — and attempts during the lock are
not counted, so a lock ends on its own. Failures are forgotten `forget_after_s` after the last one; a successful
login clears the account's count, never the address's (one valid account must not reset a guessing address).
Known and unknown user names follow exactly the same path, so the throttle does not tell which names exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dari.hub.db.models import LoginThrottleRecord, utcnow
from dari.hub.governance.errors import AuthenticationError


class ThrottlePolicy(BaseModel):
    """How many failures are free and how long the locks after them last, per account and per address."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    account_free_failures: int = Field(default=5, ge=1)
    address_free_failures: int = Field(default=20, ge=1)
    base_delay_s: float = Field(default=30.0, gt=0)
    max_delay_s: float = Field(default=900.0, gt=0)
    forget_after_s: float = Field(default=3600.0, gt=0)


class ThrottledError(AuthenticationError):
    """Too many failed logins for this account or address (HTTP 429 with Retry-After)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def _keys(account: str, address: str) -> list[tuple[str, str]]:
    return [
        ("account", hashlib.sha256(f"account:{account}".encode()).hexdigest()),
        ("address", hashlib.sha256(f"address:{address}".encode()).hexdigest()),
    ]


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite hands back naive UTC


def refuse_if_locked(session: Session, account: str, address: str, now: dt.datetime | None = None) -> None:
    """`ThrottledError` when the account or the address is locked now."""
    moment = now or utcnow()
    waits = []
    for scope, key in _keys(account, address):
        record = session.get(LoginThrottleRecord, (scope, key))
        if record is not None and record.locked_until is not None and _aware(record.locked_until) > moment:
            waits.append((_aware(record.locked_until) - moment).total_seconds())
    if waits:
        raise ThrottledError(max(1, math.ceil(max(waits))))


def record_failure(
    session: Session, account: str, address: str, policy: ThrottlePolicy, now: dt.datetime | None = None
) -> None:
    """Count a failed login against the account and the address; lock either once past its free failures."""
    moment = now or utcnow()
    free = {"account": policy.account_free_failures, "address": policy.address_free_failures}
    for scope, key in _keys(account, address):
        # Row lock on PostgreSQL; SQLite's engine takes the write lock at BEGIN: two workers count in turn.
        record = session.get(LoginThrottleRecord, (scope, key), with_for_update=True) or _first(
            session, scope, key, moment
        )
        if (moment - _aware(record.last_failure_at)).total_seconds() > policy.forget_after_s:
            record.failures = 0
        record.failures += 1
        record.last_failure_at = moment
        beyond = record.failures - free[scope]
        if beyond > 0:
            delay = min(policy.max_delay_s, policy.base_delay_s * 2 ** min(beyond - 1, 30))
            record.locked_until = moment + dt.timedelta(seconds=delay)
    session.flush()


def _first(session: Session, scope: str, key: str, moment: dt.datetime) -> LoginThrottleRecord:
    """A new row for the key; when another worker inserted it in the meantime, theirs (locked)."""
    record = LoginThrottleRecord(scope=scope, key_hash=key, failures=0, last_failure_at=moment)
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        found = session.get(LoginThrottleRecord, (scope, key), with_for_update=True, populate_existing=True)
        if found is None:
            raise
        return found
    return record


def record_success(session: Session, account: str) -> None:
    """Forget the account's failures after a successful login (the address keeps its count)."""
    scope, key = _keys(account, "")[0]
    session.execute(
        delete(LoginThrottleRecord).where(LoginThrottleRecord.scope == scope, LoginThrottleRecord.key_hash == key)
    )
