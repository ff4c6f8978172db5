"""The audit log is append-only in the database and its hash chain finds edits, deletions and reordering."""

from __future__ import annotations

from pathlib import Path

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


def test_audit_checkpoint_over_rest_kept_by_a_site(
    hub_url: str, hub: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the hub's key file named by DARI_HUB_KEY (as a PostgreSQL hub must), a steward's token
    from fastapi.testclient import TestClient
    from portal_helpers import api_tokens, make_app

    from dari.federation.witness import WitnessStore
    from dari.hub.keys import ensure_hub_key
    from dari.signing import SignedEnvelope

    monkeypatch.setenv("DARI_HUB_KEY", str(tmp_path / "hub.signing.key"))
    keys = ensure_hub_key(hub_url)
    _fill(hub)
    token = api_tokens(hub)["data_steward"]
    client = TestClient(make_app(hub_url), base_url="https://testserver")
    # Execute
    response = client.get("/api/v1/audit/checkpoint", headers={"authorization": f"Bearer {token}"})
    # Assert: the site verifies and keeps it; it names the head the store holds now
    assert response.status_code == 200, response.text
    kept = WitnessStore(tmp_path / "site-1").keep(SignedEnvelope.model_validate(response.json()), keys.public_key())
    with hub() as s:
        head = s.execute(text("SELECT seq, hash FROM audit_head")).one()
    assert (kept.seq, kept.head) == (head[0], head[1])
    assert client.get("/api/v1/audit/checkpoint").status_code == 401
