"""Hub fixtures: every hub test runs on SQLite and, when a server is reachable, on a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy.orm import Session, sessionmaker

import dari.hub.governance.users as users_module
from dari.hub.db.engine import make_engine, migrate, session_factory
from dari.hub.db.models import User
from dari.hub.seed import publish_samples, seed_consortium

PASSWORD = "correct-horse-battery"
# argon2 at production cost spends 0.2 s per hash; the tests seed many users, so they use the cheapest profile.
users_module._HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty hub database: a SQLite file, or a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("hub") / "hub.db")
    else:
        yield request.getfixturevalue("pg_database")


@pytest.fixture
def hub(hub_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated hub store with the demo consortium and one sample dataset per site."""
    engine = make_engine(hub_url)
    migrate(engine)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        users = seed_consortium(session, PASSWORD)
        publish_samples(session, users["admin"])
    yield factory
    engine.dispose()


def user(factory: sessionmaker[Session], session: Session, name: str) -> User:
    """A seeded user by name, in `session`."""
    from dari.hub.governance.users import get_user

    return get_user(session, name)
