"""The audit log is append-only in the database and its hash chain finds edits, deletions and reordering."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from dari.hub import audit


def _fill(factory: sessionmaker[Session], n: int = 5) -> None:
    with factory() as s, s.begin():
        for i in range(n):
            audit.record(s, actor="tester", action="test.event", target=f"t:{i}", detail={"i": i, "텍스트": "한글"})


def _without_guard(session: Session) -> None:
    """What an attacker with database rights would do first: switch the append-only triggers off."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))
    else:
        session.execute(text("DROP TRIGGER audit_entry_no_update"))
        session.execute(text("DROP TRIGGER audit_entry_no_delete"))


def _last_seq(session: Session) -> int:
    return int(session.execute(text("SELECT max(seq) FROM audit_entry")).scalar_one())


def test_audit_intact_chain_verifies(hub: sessionmaker[Session]) -> None:
    _fill(hub)
    with hub() as s:
        result = audit.verify(s)
    assert result.ok, result.problems
    assert result.entries >= 5


def test_audit_update_and_delete_refused_by_database(hub: sessionmaker[Session]) -> None:
    _fill(hub)
    for statement in ("UPDATE audit_entry SET actor = 'x'", "DELETE FROM audit_entry"):
        with hub() as s, pytest.raises(DBAPIError, match="append-only"), s.begin():
            s.execute(text(statement))


def test_audit_edited_entry_found(hub: sessionmaker[Session]) -> None:
    _fill(hub)
    with hub() as s, s.begin():
        _without_guard(s)
        seq = _last_seq(s) - 2
        s.execute(text("UPDATE audit_entry SET actor = 'someone-else' WHERE seq = :seq"), {"seq": seq})
    with hub() as s:
        result = audit.verify(s)
    assert not result.ok
    assert [(p.seq, p.kind) for p in result.problems] == [(seq, "edited")]


def test_audit_deleted_entry_found(hub: sessionmaker[Session]) -> None:
    _fill(hub)
    with hub() as s, s.begin():
        _without_guard(s)
        seq = _last_seq(s) - 2
        s.execute(text("DELETE FROM audit_entry WHERE seq = :seq"), {"seq": seq})
    with hub() as s:
        problems = audit.verify(s).problems
    assert problems[0].seq == seq + 1 and problems[0].kind == "gap"
    assert f"entries {seq}..{seq}" in problems[0].message


def test_audit_deleted_tail_found_by_head(hub: sessionmaker[Session]) -> None:
    _fill(hub)
    with hub() as s, s.begin():
        _without_guard(s)
        s.execute(text("DELETE FROM audit_entry WHERE seq = :seq"), {"seq": _last_seq(s)})
    with hub() as s:
        assert [p.kind for p in audit.verify(s).problems] == ["truncated"]


def test_audit_reordered_entries_found(hub: sessionmaker[Session]) -> None:
    _fill(hub)
    with hub() as s, s.begin():
        _without_guard(s)
        a = _last_seq(s) - 3
        # Swap two entries' positions, keeping each entry's own content and hashes.
        s.execute(text("UPDATE audit_entry SET seq = -1 WHERE seq = :a"), {"a": a})
        s.execute(text("UPDATE audit_entry SET seq = :a WHERE seq = :b"), {"a": a, "b": a + 1})
        s.execute(text("UPDATE audit_entry SET seq = :b WHERE seq = -1"), {"b": a + 1})
    with hub() as s:
        problems = audit.verify(s).problems
    assert problems and problems[0].seq == a
    assert {p.kind for p in problems} & {"reordered", "broken-link", "edited"}
