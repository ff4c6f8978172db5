"""Helpers of the portal tests: an app on the test store, logged-in clients, a ready application and grant."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.db.models import Grant
from dari.hub.governance.applications import AnalysisType, ApplicationCreate, submit_application
from dari.hub.governance.review import Decision, ReviewCreate, record_review
from dari.hub.governance.users import get_user, issue_api_token
from dari.hub.settings import HubSettings
from dari.hub.web.app import create_app

PASSWORD = "correct-horse-battery"
ROLE_USERS = {
    "platform_admin": "admin",
    "data_steward": "steward1",
    "drb_member": "drb1",
    "researcher": "researcher",
    "ai_vendor": "vendor",
    "clinician": "clinician",
    "deployment_approver": "approver1",
}


def make_app(url: str, **overrides: object) -> FastAPI:
    """The hub app on the test store."""
    return create_app(HubSettings(database=url, **overrides))  # type: ignore[arg-type]


def login(app: FastAPI, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
    """A client holding a portal session, and the session's CSRF token."""
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token[1]})
    assert response.status_code == 303, response.text
    catalog = client.get("/catalog")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', catalog.text)
    assert csrf, catalog.text
    return client, csrf[1]


def api_tokens(factory: sessionmaker[Session]) -> dict[str, str]:
    """An API token for every role's user."""
    with factory() as s, s.begin():
        return {role: issue_api_token(s, get_user(s, name)) for role, name in ROLE_USERS.items()}


def application_and_grant(factory: sessionmaker[Session]) -> tuple[int, int, str]:
    """An application under review (site-1 + site-2, no votes) and one over site-1 approved by drb1, with its grant."""
    today = dt.date.today()

    def create(datasets: list[str], key: str) -> int:
        with factory() as s, s.begin():
            data = ApplicationCreate(
                title=f"study {key}",
                purpose="A study for the portal tests.",
                irb_number="IRB-TEST-7",
                dataset_ids=datasets,
                analysis_types=[AnalysisType.FEASIBILITY],
                period_start=today,
                period_end=today + dt.timedelta(days=90),
                dua_accepted=True,
                submission_key=key,
            )
            return submit_application(s, get_user(s, "researcher"), data).id

    pending = create(["site-1-cdm", "site-2-cdm"], "pending-key-1")
    approved = create(["site-1-cdm"], "approved-key-1")
    with factory() as s, s.begin():
        record_review(s, get_user(s, "drb1"), approved, ReviewCreate(decision=Decision.APPROVE))
    with factory() as s:
        grant = s.execute(select(Grant).where(Grant.application_id == approved)).scalar_one().id
    return pending, approved, grant


#: Debian's Chromium for the browser journeys (Playwright may not download its own browser here), and its flags.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_chromium() -> None:
    """Skip loudly when Debian's Chromium is not installed: the browser tests then did not run."""
    import warnings

    import pytest

    if not shutil.which("chromium") and not Path(CHROMIUM).exists():
        reason = "!!! Chromium NOT INSTALLED (apt-get install chromium); the browser tests DID NOT RUN !!!"
        warnings.warn(reason, stacklevel=2)
        pytest.skip(reason)


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn on a free loopback port for the block; yields its base URL."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve_portal(hub_url: str) -> Iterator[str]:
    """The hub served by uvicorn on a loopback port (plain HTTP, so cookies without Secure); skips loudly without
    Chromium."""
    from dari.hub.web.search_service import concept_index

    require_chromium()
    concept_index()  # the first build loads Kiwi and the sentence encoder: not part of what the browser waits for
    with served(make_app(hub_url, secure_cookies=False)) as url:
        yield url
