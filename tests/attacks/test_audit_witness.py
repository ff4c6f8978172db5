"""Attacks on the hub's audit log by an insider with database rights, and what the sites' witnesses show.

Each test is one play: the insider switches the append-only triggers off, rewrites rows, recomputes every hash and
the head (so the plain chain verifies again, as it did before the witnesses existed), and an auditor then checks the
log against the signed checkpoints the sites kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from dari.cli.app import app
from dari.errors import InputError
from dari.federation.witness import WitnessStore
from dari.hub import audit
from dari.hub.audit_checkpoint import WitnessConflictError, latest_checkpoint, store_checkpoint, witnessed_heads
from dari.hub.db.engine import make_engine, migrate, session_factory
from dari.hub.keys import HubKeyPaths, ensure_hub_key
from dari.signing import SignatureError, create_key_pair, load_public_key

Row = dict[str, Any]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, sessionmaker[Session], HubKeyPaths]]:
    """A migrated hub store with its signing key file (SQLite, and PostgreSQL when the server is there)."""
    url = str(tmp_path / "hub.db") if request.param == "sqlite" else request.getfixturevalue("pg_database")
    if request.param != "sqlite":
        request.getfixturevalue("monkeypatch").setenv("DARI_HUB_KEY", str(tmp_path / "hub.signing.key"))
    engine = make_engine(url)
    migrate(engine)
    keys = ensure_hub_key(url)
    yield url, session_factory(engine), keys
    engine.dispose()


def _fill(factory: sessionmaker[Session], n: int, action: str = "grant.check") -> None:
    with factory() as s, s.begin():
        for i in range(n):
            audit.record(s, actor=f"user{i % 7}", action=action, target=f"grant:g{i}", detail={"i": i})


def _site_keeps(factory: sessionmaker[Session], keys: HubKeyPaths, site: Path) -> int:
    """The hub hands the site its latest checkpoint with a job; the site keeps it. Returns the witnessed seq."""
    with factory() as s:
        envelope = latest_checkpoint(s, keys)
    return WitnessStore(site).keep(envelope, keys.public_key()).seq


def _rewrite(factory: sessionmaker[Session], change: Callable[[list[Row]], list[Row]]) -> None:
    """The insider's rewrite: triggers off, rows changed, every hash and the head recomputed from the genesis."""
    with factory() as s, s.begin():
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only"))
        else:
            s.execute(text("DROP TRIGGER audit_entry_no_update"))
            s.execute(text("DROP TRIGGER audit_entry_no_delete"))
        rows = [dict(r._mapping) for r in s.execute(text("SELECT * FROM audit_entry ORDER BY seq"))]
        for row in rows:
            if isinstance(row["detail"], str):
                row["detail"] = json.loads(row["detail"])
            if isinstance(row["at"], str):
                import datetime as dt

                row["at"] = dt.datetime.fromisoformat(row["at"])
        rows = change(rows)
        s.execute(text("DELETE FROM audit_entry"))
        prev = audit.GENESIS_HASH
        for seq, row in enumerate(rows, start=1):
            fields = {k: row[k] for k in ("at", "actor", "action", "target", "outcome", "detail")}
            digest = audit.entry_hash(prev, seq=seq, **fields)
            s.execute(
                text(
                    "INSERT INTO audit_entry (seq, at, actor, action, target, outcome, detail, prev_hash, hash) "
                    "VALUES (:seq, :at, :actor, :action, :target, :outcome, :detail, :prev, :hash)"
                ),
                {**fields, "detail": json.dumps(fields["detail"]), "seq": seq, "prev": prev, "hash": digest},
            )
            prev = digest
        s.execute(text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"), {"seq": len(rows), "hash": prev})


def _verify(factory: sessionmaker[Session], site: Path | None, keys: HubKeyPaths) -> audit.AuditVerification:
    heads = witnessed_heads([site / "audit"], keys.public_key()) if site else {}
    with factory() as s:
        return audit.verify(s, heads)


def test_attack_delete_129_rows_and_recompute_found_by_witness(
    store: tuple[str, sessionmaker[Session], HubKeyPaths], tmp_path: Path
) -> None:
    """Delete 129 rows and recompute all hashes and the head. Before: "intact". Now: the site's checkpoint says no."""
    _, factory, keys = store
    _fill(factory, 200)
    witnessed = _site_keeps(factory, keys, tmp_path / "site-1")
    _rewrite(factory, lambda rows: rows[:30] + rows[159:])  # rows 31..159 gone
    assert _verify(factory, None, keys).ok  # the plain chain cannot tell: this was the leak
    result = _verify(factory, tmp_path / "site-1", keys)
    assert not result.ok
    assert [(p.seq, p.kind) for p in result.problems] == [(witnessed, "witness-missing")]


def test_attack_delete_rows_then_pad_back_to_the_witnessed_length(
    store: tuple[str, sessionmaker[Session], HubKeyPaths], tmp_path: Path
) -> None:
    """Delete rows, then pad with harmless fakes so the log reaches the witnessed seq again: the head differs."""
    _, factory, keys = store
    _fill(factory, 60)
    witnessed = _site_keeps(factory, keys, tmp_path / "site-1")
    _rewrite(factory, lambda rows: rows[:10] + rows[20:] + rows[:10])
    result = _verify(factory, tmp_path / "site-1", keys)
    assert [(p.seq, p.kind) for p in result.problems] == [(witnessed, "witness-mismatch")]


def test_attack_rewritten_vote_found(store: tuple[str, sessionmaker[Session], HubKeyPaths], tmp_path: Path) -> None:
    """A DRB member's reject becomes an approve, hashes recomputed. Before: intact. Now: witness mismatch."""
    _, factory, keys = store
    with factory() as s, s.begin():
        audit.record(s, actor="drb3", action="drb.review", target="application:7", detail={"decision": "reject"})
    _fill(factory, 5)
    _site_keeps(factory, keys, tmp_path / "site-3")
    _fill(factory, 5)  # the log goes on after the site's checkpoint

    def flip(rows: list[Row]) -> list[Row]:
        for row in rows:
            if row["action"] == "drb.review":
                row["detail"] = {"decision": "approve"}
        return rows

    _rewrite(factory, flip)
    assert _verify(factory, None, keys).ok
    assert {p.kind for p in _verify(factory, tmp_path / "site-3", keys).problems} == {"witness-mismatch"}


def test_attack_forged_approval_inserted_before_the_checkpoint_found(
    store: tuple[str, sessionmaker[Session], HubKeyPaths], tmp_path: Path
) -> None:
    """A deployment approval that never happened is slipped into the past; every later hash recomputed."""
    _, factory, keys = store
    _fill(factory, 20)
    witnessed = _site_keeps(factory, keys, tmp_path / "site-1")

    def forge(rows: list[Row]) -> list[Row]:
        fake = dict(rows[4], actor="approver1", action="deployment.approve", target="report:forged")
        return [*rows[:5], fake, *rows[5:]]

    _rewrite(factory, forge)
    result = _verify(factory, tmp_path / "site-1", keys)
    assert [(p.seq, p.kind) for p in result.problems] == [(witnessed, "witness-mismatch")]


def test_attack_truncate_after_the_last_checkpoint_is_not_found(
    store: tuple[str, sessionmaker[Session], HubKeyPaths], tmp_path: Path
) -> None:
    """The honest limit: entries no witness saw can be cut off and the log still verifies against the witnesses."""
    _, factory, keys = store
    _fill(factory, 20)
    witnessed = _site_keeps(factory, keys, tmp_path / "site-1")
    _fill(factory, 10)
    _rewrite(factory, lambda rows: rows[:witnessed])
    result = _verify(factory, tmp_path / "site-1", keys)
    assert result.ok and result.witnessed == 1  # nobody outside the hub saw entries after the checkpoint


def test_attack_truncate_is_found_by_the_next_site_that_saw_more(
    store: tuple[str, sessionmaker[Session], HubKeyPaths], tmp_path: Path
) -> None:
    """Cut the tail off after site-1 saw it: site-1's next job brings a shorter checkpoint, which it refuses."""
    _, factory, keys = store
    _fill(factory, 20)
    _site_keeps(factory, keys, tmp_path / "site-1")
    _rewrite(factory, lambda rows: rows[:12])
    with pytest.raises(WitnessConflictError, match="went back from entry"):
        _site_keeps(factory, keys, tmp_path / "site-1")


def test_attack_hub_shows_two_sites_different_histories(
    store: tuple[str, sessionmaker[Session], HubKeyPaths], tmp_path: Path
) -> None:
    """A fork: the hub rewrites and shows the new head to the site that saw the old one: kept as evidence, refused."""
    _, factory, keys = store
    _fill(factory, 10)
    _site_keeps(factory, keys, tmp_path / "site-1")
    _rewrite(factory, lambda rows: [dict(r, actor="someone") if r["seq"] == 3 else r for r in rows])
    with pytest.raises(WitnessConflictError, match="two different heads"):
        _site_keeps(factory, keys, tmp_path / "site-1")
    assert len(WitnessStore(tmp_path / "site-1").envelopes()) == 2  # the contradiction itself is kept
    with pytest.raises(WitnessConflictError, match="forked"):
        witnessed_heads([tmp_path / "site-1" / "audit"], keys.public_key())


def test_attack_checkpoint_signed_by_another_key_refused(
    store: tuple[str, sessionmaker[Session], HubKeyPaths], tmp_path: Path
) -> None:
    """An insider without the hub's key file signs a checkpoint of the rewritten log with a key of their own."""
    _, factory, keys = store
    _fill(factory, 5)
    create_key_pair(tmp_path / "mine.key", tmp_path / "mine.pub")
    mine = HubKeyPaths(private=tmp_path / "mine.key", public=tmp_path / "mine.pub")
    with factory() as s:
        forged = latest_checkpoint(s, mine)
    with pytest.raises(SignatureError):
        WitnessStore(tmp_path / "site-1").keep(forged, keys.public_key())
    assert not WitnessStore(tmp_path / "site-1").path.exists()
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "x.checkpoint.json").write_text(forged.model_dump_json(), encoding="utf-8")
    with pytest.raises(InputError, match="checkpoint 1"):
        witnessed_heads([tmp_path / "w"], keys.public_key())


def test_hub_key_is_not_in_the_database(store: tuple[str, sessionmaker[Session], HubKeyPaths]) -> None:
    """An insider dumping every table finds no part of the hub's private key."""
    _, factory, keys = store
    _fill(factory, 3)
    pem = keys.private.read_text(encoding="ascii")
    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    with factory() as s:
        tables = [t for (t,) in s.execute(text(_TABLES[s.get_bind().dialect.name]))]
        dump = "".join(str(list(s.execute(text(f'SELECT * FROM "{t}"')))) for t in tables)
    assert tables and body[16:40] not in dump and "PRIVATE KEY" not in dump


_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
}


def test_cli_checkpoint_export_and_verify_with_witness(tmp_path: Path) -> None:
    """An auditor's path: the hub exports a checkpoint, a site keeps it, the rewrite is found at the command line."""
    runner = CliRunner()
    db = str(tmp_path / "hub.db")
    assert runner.invoke(app, ["hub", "init", "--db", db]).exit_code == 0
    factory = session_factory(make_engine(db))
    _fill(factory, 30)
    exported = runner.invoke(app, ["audit", "checkpoint", "--out", str(tmp_path / "now.checkpoint.json"), "--db", db])
    assert exported.exit_code == 0, exported.output
    keys = ensure_hub_key(db)
    WitnessStore(tmp_path / "site-2").keep(store_checkpoint(db), keys.public_key())  # as a job would hand it
    ok = runner.invoke(app, ["audit", "verify", "--db", db, "--witness", str(tmp_path / "site-2" / "audit")])
    assert ok.exit_code == 0 and "through 1 witnessed heads" in ok.stdout
    _rewrite(factory, lambda rows: rows[5:])
    plain = runner.invoke(app, ["audit", "verify", "--db", db])
    assert plain.exit_code == 0  # without witnesses the rewrite passes: the reason witnesses exist
    found = runner.invoke(
        app,
        ["audit", "verify", "--db", db, "--witness", str(tmp_path / "now.checkpoint.json"), "--witness",
         str(tmp_path / "site-2" / "audit"), "--hub-public-key", str(keys.public)],
    )  # fmt: skip
    assert found.exit_code == 6 and "witness-missing" in found.stdout
    assert load_public_key(keys.public) is not None


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("DROP TABLE audit_entry", "audit_entry cannot be read"),
        ("DROP TABLE audit_head", "audit_head cannot be read"),
        ("DELETE FROM audit_head", "head-missing"),
        (
            "INSERT INTO audit_entry VALUES (4, 'not a time', 1, 2, 3, 4, 'not json', 'p', 'h')",
            "unreadable",
        ),
        ("INSERT INTO audit_entry VALUES (999, '2026-01-01 00:00:00', 'a', 'b', 'c', 'd', '[]', 'p', 'h')", "unread"),
    ],
)
def test_attack_damaged_store_reported_without_traceback(tmp_path: Path, damage: str, says: str) -> None:
    """Drop the audit tables or fill them with garbage. Before: a traceback. Now: a message and exit 6."""
    runner = CliRunner()
    db = str(tmp_path / "hub.db")
    assert runner.invoke(app, ["hub", "init", "--db", db]).exit_code == 0
    factory = session_factory(make_engine(db))
    _fill(factory, 3)
    with factory() as s, s.begin():
        s.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_update"))
        s.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_delete"))
        s.execute(text(damage))
    result = runner.invoke(app, ["audit", "verify", "--db", db])
    assert result.exit_code == 6, result.output
    assert says in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_witness_store_keeps_each_head_once_and_exports(
    store: tuple[str, sessionmaker[Session], HubKeyPaths], tmp_path: Path
) -> None:
    """A site handed the same checkpoint by many jobs keeps one line; its export is what an auditor verifies."""
    _, factory, keys = store
    _fill(factory, 4)
    for _ in range(3):
        _site_keeps(factory, keys, tmp_path / "site-1")
    _fill(factory, 2)
    _site_keeps(factory, keys, tmp_path / "site-1")
    witness = WitnessStore(tmp_path / "site-1")
    assert [c.seq for c in witness.checkpoints(keys.public_key())] == [4, 6]
    (tmp_path / "auditor").mkdir()
    exported = witness.export(tmp_path / "auditor")
    assert exported.name == "site-1.checkpoints.jsonl"
    assert witnessed_heads([tmp_path / "auditor"], keys.public_key()).keys() == {4, 6}
    assert _verify(factory, tmp_path / "site-1", keys).ok
