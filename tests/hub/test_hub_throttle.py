"""The login throttle's counts live in the hub store: every worker sees them, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.db.models import LoginThrottleRecord
from dari.hub.governance.throttle import (
    ThrottledError,
    ThrottlePolicy,
    record_failure,
    record_success,
    refuse_if_locked,
)

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
POLICY = ThrottlePolicy(account_free_failures=3, address_free_failures=5, base_delay_s=60, max_delay_s=600)


def _fail(factory: sessionmaker[Session], account: str, address: str, at: dt.datetime) -> None:
    with factory() as s, s.begin():
        record_failure(s, account, address, POLICY, at)


def test_throttle_shared_between_workers(hub: sessionmaker[Session]) -> None:
    # Prepare: two "workers", each with its own session, count failures of one account
    for i in range(4):
        _fail(hub, "drb1", f"10.1.0.{i}", T0 + dt.timedelta(seconds=i))
    # Execute / Assert: the fourth failure (past three free) locks the account for 60 s, seen by a fresh session
    with hub() as s, pytest.raises(ThrottledError) as caught:
        refuse_if_locked(s, "drb1", "10.9.9.9", T0 + dt.timedelta(seconds=4))
    assert 50 <= caught.value.retry_after_s <= 60
    with hub() as s:
        refuse_if_locked(s, "drb1", "10.9.9.9", T0 + dt.timedelta(seconds=64))


def test_throttle_keeps_no_name_or_address_in_clear(hub: sessionmaker[Session]) -> None:
    _fail(hub, "some-typed-secret", "203.0.113.5", T0)
    with hub() as s:
        rows = s.execute(select(LoginThrottleRecord)).scalars().all()
    assert {r.scope for r in rows} == {"account", "address"}
    assert all(len(r.key_hash) == 64 and "secret" not in r.key_hash for r in rows)


def test_throttle_success_clears_the_account_not_the_address(hub: sessionmaker[Session]) -> None:
    for i in range(6):
        _fail(hub, f"acct{i}", "192.0.2.1", T0 + dt.timedelta(seconds=i))
    with hub() as s, s.begin():
        record_success(s, "acct5")
    with hub() as s, pytest.raises(ThrottledError):
        refuse_if_locked(s, "acct5", "192.0.2.1", T0 + dt.timedelta(seconds=7))


def test_throttle_forgets_old_failures(hub: sessionmaker[Session]) -> None:
    for i in range(3):
        _fail(hub, "vendor", "10.2.0.1", T0 + dt.timedelta(seconds=i))
    _fail(hub, "vendor", "10.2.0.1", T0 + dt.timedelta(hours=2))  # the count restarted: this is failure 1
    with hub() as s:
        refuse_if_locked(s, "vendor", "10.2.0.2", T0 + dt.timedelta(hours=2, seconds=1))
