"""Schemathesis against the hub's OpenAPI spec: generated requests from several roles never cause a server error."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from portal_helpers import ROLE_USERS, application_and_grant, make_app

from dari.hub.db.engine import make_engine, migrate, session_factory
from dari.hub.governance.users import get_user, issue_api_token
from dari.hub.seed import publish_samples, seed_consortium
from dari.hub.web.search_service import concept_index

# Schemathesis collects operations at import time, so the store and app are built here (SQLite in a temp dir).
_store = Path(tempfile.mkdtemp(prefix="dari-schemathesis-")) / "hub.db"
_engine = make_engine(_store)
migrate(_engine)
_factory = session_factory(_engine)
with _factory() as _s, _s.begin():
    _users = seed_consortium(_s, "correct-horse-battery")
    publish_samples(_s, _users["admin"])
application_and_grant(_factory)
with _factory() as _s, _s.begin():
    TOKENS = {role: issue_api_token(_s, get_user(_s, name)) for role, name in ROLE_USERS.items()}
APP = make_app(str(_store))
concept_index()  # built once per process; a first search inside a request would hit the client's read timeout
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_no_server_error(case: schemathesis.Case) -> None:
    for role in ("researcher", "drb_member", "platform_admin", "data_steward"):
        response = case.call(headers={"Authorization": f"Bearer {TOKENS[role]}"})
        assert response.status_code < 500, (role, case.method, case.formatted_path, response.status_code, response.text)
