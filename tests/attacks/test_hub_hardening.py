"""Attacks on the hub's front door: oversized bodies before login, password guessing, and the CLI acting as others.

Each test is the attacker's play: what they send, what the hub did before (read 300 MB, let the 31st guess in,
act as anyone named with `--by`), and what it does now.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import dari.hub.governance.users as users_module
from dari.hub.db.engine import make_engine, migrate, session_factory
from dari.hub.db.models import AuditEntry
from dari.hub.governance.throttle import ThrottledError, ThrottlePolicy, record_failure, refuse_if_locked
from dari.hub.keys import ensure_hub_key
from dari.hub.seed import publish_samples, seed_consortium
from dari.hub.settings import HubSettings
from dari.hub.web.app import create_app

PASSWORD = "correct-horse-battery"
users_module._HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)  # as tests/hub: seeding stays fast


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """A migrated SQLite hub with the demo consortium and its signing key."""
    db = str(tmp_path / "hub.db")
    engine = make_engine(db)
    migrate(engine)
    ensure_hub_key(db)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        users = seed_consortium(s, PASSWORD)
        publish_samples(s, users["admin"])
    yield db, factory
    engine.dispose()


def _denied_logins(factory: sessionmaker[Session]) -> list[AuditEntry]:
    with factory() as s:
        query = select(AuditEntry).where(AuditEntry.action == "login", AuditEntry.outcome == "deny")
        return list(s.execute(query.order_by(AuditEntry.seq)).scalars())


# --- bodies ---------------------------------------------------------------------------------------------------


@pytest.fixture
def served(hub: tuple[str, sessionmaker[Session]]) -> Iterator[tuple[str, int]]:
    """The hub app served by a real uvicorn on a loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    app = create_app(HubSettings(database=hub[0], secure_cookies=False))
    server = uvicorn.Server(uvicorn.Config(app, ws="none", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    host, port = sock.getsockname()[:2]
    yield host, port
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


def _chunked_upload(host: str, port: int, path: str, total: int) -> tuple[bytes, int]:
    """Send a chunked body of `total` bytes (stopping when the server closes); the response read and bytes sent."""
    conn = socket.create_connection((host, port), timeout=20)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    )
    conn.sendall(head.encode("ascii"))
    received = bytearray()

    def read() -> None:  # read while sending, so the answer is in hand before the server resets the connection
        try:
            while chunk := conn.recv(65536):
                received.extend(chunk)
        except OSError:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    piece = b"a" * 65536
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    try:
        while sent < total:
            conn.sendall(frame)
            sent += len(piece)
    except OSError:
        pass  # the server closed the connection: what we wanted
    reader.join(timeout=20)
    conn.close()
    return bytes(received), sent


def test_attack_chunked_300mb_anonymous_upload_refused_early(served: tuple[str, int]) -> None:
    """300 MB of chunked body to the login form, no Content-Length. Before: read in full. Now: 413, closed early."""
    response, sent = _chunked_upload(*served, "/login", 300 * 1024 * 1024)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"connection: close" in response.lower()
    assert sent < 32 * 1024 * 1024, f"{sent} bytes went out before the server stopped reading"


@pytest.mark.parametrize("path", ["/api/v1/monitoring", "/api/v1/grants/check", "/catalog", "/no/such/route"])
def test_attack_chunked_body_to_other_routes_refused(served: tuple[str, int], path: str) -> None:
    """The same flood at the route allowed 8 MiB, at an API route that wants a token first, and at GETs' paths."""
    response, sent = _chunked_upload(*served, path, 64 * 1024 * 1024)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < 48 * 1024 * 1024


def test_body_limit_declared_length_refused_and_small_bodies_pass(hub: tuple[str, sessionmaker[Session]]) -> None:
    """A Content-Length over the limit is refused unread; a form under it still reaches the login route."""
    client = TestClient(create_app(HubSettings(database=hub[0])), base_url="https://testserver")
    assert client.post("/login", content=b"x" * 70_000).status_code == 413
    assert client.post("/login", headers={"content-length": "12abc"}, content=b"").status_code == 413
    assert client.post("/login", data={"username": "admin"}).status_code == 422  # read and validated: under limit


# --- password guessing ------------------------------------------------------------------------------------------


def _login(client: TestClient, username: str, password: str) -> int:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token[1]}, follow_redirects=False
    ).status_code


def test_attack_30_wrong_passwords_then_the_right_one_locked(hub: tuple[str, sessionmaker[Session]]) -> None:
    """Guess steward1's password 30 times, then use the right one. Before: in. Now: 429, and every try audited."""
    client = TestClient(create_app(HubSettings(database=hub[0])), base_url="https://testserver")
    statuses = [_login(client, "steward1", f"guess-{i:04d}-xyz") for i in range(30)]
    assert statuses == [401] * 6 + [429] * 24  # five free, the sixth locks: the password is no longer checked
    assert _login(client, "steward1", PASSWORD) == 429
    denied = _denied_logins(hub[1])
    assert len(denied) == 31 and {e.detail["account"] for e in denied} == {"steward1"}
    assert not any("guess-" in str(e.detail) or PASSWORD in str(e.detail) for e in denied)
    assert sum(e.detail["reason"] == "throttled" for e in denied) == 25


def test_attack_unknown_names_throttled_the_same_way(hub: tuple[str, sessionmaker[Session]]) -> None:
    """Probe whether a name exists by how the throttle answers: known and unknown names answer alike."""
    settings = HubSettings(database=hub[0], login_throttle=ThrottlePolicy(address_free_failures=1000))
    client = TestClient(create_app(settings), base_url="https://testserver")
    known = [_login(client, "drb1", "wrong-password-1") for _ in range(8)]
    unknown = [_login(client, "no-such-person", "wrong-password-1") for _ in range(8)]
    assert known == unknown == [401] * 6 + [429] * 2


def test_attack_many_accounts_from_one_address_throttled(hub: tuple[str, sessionmaker[Session]]) -> None:
    """Spray one password over many accounts from one address: the address locks, even for a right password."""
    client = TestClient(create_app(HubSettings(database=hub[0])), base_url="https://testserver")
    statuses = [_login(client, f"user{i:02d}", "Spring2026!!") for i in range(25)]
    assert statuses == [401] * 21 + [429] * 4
    assert _login(client, "admin", PASSWORD) == 429
    with hub[1]() as s:
        refuse_if_locked(s, "admin", "198.51.100.7")  # another address is not locked out by this one


def test_throttle_backoff_doubles_and_lock_ends(hub: tuple[str, sessionmaker[Session]]) -> None:
    """The lock after each failure past the free ones doubles, up to the cap, and ends on its own."""
    policy = ThrottlePolicy(account_free_failures=2, base_delay_s=10, max_delay_s=40)
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    waits = []
    with hub[1]() as s, s.begin():
        for i in range(6):
            now = t0 + dt.timedelta(seconds=1000 * i)
            record_failure(s, "researcher", f"10.0.0.{i}", policy, now)
            try:
                refuse_if_locked(s, "researcher", "10.0.0.99", now)
                waits.append(0)
            except ThrottledError as exc:
                waits.append(exc.retry_after_s)
        refuse_if_locked(s, "researcher", "10.0.0.99", t0 + dt.timedelta(seconds=5041))
    assert waits == [0, 0, 10, 20, 40, 40]


# --- the command line acting as others --------------------------------------------------------------------------

RESULTS = {"sites_covered": ["site-1"], "pooled": {"n": 900, "events": 120, "auroc": 0.79}}


def _report(db: str, tmp_path: Path) -> str:
    """The vendor (as the store's owner acts for it) registers the reference model and submits a report."""
    import json

    from typer.testing import CliRunner

    from dari.cli.app import app

    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["hub", "model", "register", "reference", "--by", "vendor", "--db", db]).exit_code == 0
    submitted = runner.invoke(
        app, ["hub", "report", "submit", str(results), "--model", "reference", "--by", "vendor", "--db", db]
    )
    assert submitted.exit_code == 0, submitted.output
    return submitted.stdout.strip()


def _cli_entries(factory: sessionmaker[Session], action: str) -> list[AuditEntry]:
    with factory() as s:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list(s.execute(query).scalars())


def _approvals(factory: sessionmaker[Session]) -> int:
    from dari.hub.db.models import DeploymentApproval

    with factory() as s:
        return len(s.execute(select(DeploymentApproval)).scalars().all())


def test_attack_cli_by_someone_else_without_credentials_refused_and_audited(
    hub: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    """With database access but not the hub's key file, approve as approver1 with `--by`. Before: approved."""
    from typer.testing import CliRunner

    from dari.cli.app import app

    db, factory = hub
    report = _report(db, tmp_path)
    # The attacker's shell: the store is reachable, the hub's key file (on the hub's host) is not.
    env = {"DARI_HUB_KEY": str(tmp_path / "elsewhere" / "hub.signing.key"), "DARI_HUB_TOKEN": ""}
    refused = CliRunner().invoke(
        app, ["hub", "deployment", "approve", report, "--by", "approver1", "--db", db], env=env
    )
    assert refused.exit_code == 5 and "API token" in refused.output
    assert _approvals(factory) == 0
    denied = _cli_entries(factory, "cli.denied")
    assert [(e.outcome, e.detail["claimed_user"], e.target) for e in denied] == [
        ("deny", "approver1", f"hub deployment approve {report}")
    ]


def test_attack_token_of_one_user_acting_as_another_refused(
    hub: tuple[str, sessionmaker[Session]], tmp_path: Path
) -> None:
    """A researcher's own valid token, with `--by approver1`: refused and audited; the approver's token works."""
    from typer.testing import CliRunner

    from dari.cli.app import app
    from dari.hub.governance.users import get_user, issue_api_token

    db, factory = hub
    report = _report(db, tmp_path)
    with factory() as s, s.begin():
        tokens = {name: issue_api_token(s, get_user(s, name)) for name in ("researcher", "approver1", "vendor")}
    key_gone = {"DARI_HUB_KEY": str(tmp_path / "elsewhere.key")}
    runner = CliRunner()
    approve = ["hub", "deployment", "approve", report, "--db", db]
    posing = runner.invoke(
        app, [*approve, "--by", "approver1"], env={**key_gone, "DARI_HUB_TOKEN": tokens["researcher"]}
    )
    assert posing.exit_code == 5 and "researcher's" in posing.output
    token_file = tmp_path / "vendor.token"
    token_file.write_text(tokens["vendor"] + "\n", encoding="utf-8")
    wrong_role = runner.invoke(app, [*approve, "--token-file", str(token_file)], env=key_gone)
    assert wrong_role.exit_code == 5 and "may not approve" in wrong_role.output  # refused by the rule, audited too
    forged = runner.invoke(app, approve, env={**key_gone, "DARI_HUB_TOKEN": "dari_" + "x" * 43})
    assert forged.exit_code == 5
    assert _approvals(factory) == 0
    reasons = [e.detail["reason"] for e in _cli_entries(factory, "cli.denied")]
    assert len(reasons) == 3 and "unknown or revoked API token" in reasons[2]
    ok = runner.invoke(app, approve, env={**key_gone, "DARI_HUB_TOKEN": tokens["approver1"]})
    assert ok.exit_code == 0, ok.output
    assert _approvals(factory) == 1
    acted = _cli_entries(factory, "cli.act")
    assert (acted[-1].actor, acted[-1].detail["via"]) == ("approver1", "api-token")


def test_attack_token_on_the_command_line_not_accepted(hub: tuple[str, sessionmaker[Session]]) -> None:
    """A token as an argument would land in shell history and `ps`: there is no such option."""
    from typer.testing import CliRunner

    from dari.cli.app import app

    result = CliRunner().invoke(app, ["hub", "deployment", "approve", "r", "--token", "dari_x", "--db", hub[0]])
    assert result.exit_code == 2 and "No such option" in result.output


def test_attack_non_admin_token_adds_a_user_refused(hub: tuple[str, sessionmaker[Session]], tmp_path: Path) -> None:
    """A steward's token tries to create a platform admin from the CLI: refused and audited; the owner may."""
    from typer.testing import CliRunner

    from dari.cli.app import app
    from dari.hub.governance.users import get_user, issue_api_token

    db, factory = hub
    with factory() as s, s.begin():
        token = issue_api_token(s, get_user(s, "steward1"))
    runner = CliRunner()
    add = ["hub", "user", "add", "mallory", "--role", "platform_admin", "--db", db]
    env = {"DARI_HUB_PASSWORD": "a-long-password-1", "DARI_HUB_TOKEN": token}
    refused = runner.invoke(app, add, env={**env, "DARI_HUB_KEY": str(tmp_path / "none.key")})
    assert refused.exit_code == 5 and "may not add sites or users" in refused.output
    assert [e.target for e in _cli_entries(factory, "cli.denied")] == ["hub user add mallory"]
    owner = runner.invoke(app, add, env={**env, "DARI_HUB_TOKEN": ""})  # the store's owner holds the key file
    assert owner.exit_code == 0, owner.output
    assert [e.actor for e in _cli_entries(factory, "user.add")][-1] == "store-owner"
