"""Fixtures every test package may use: the test PostgreSQL server (see `pg_server`), skipped loudly when absent."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from pg_server import PG_ADMIN_URL, PG_URL, SERVER, connect


@pytest.fixture(scope="module")
def pg(request: pytest.FixtureRequest) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """An autocommit connection to the test database."""
    con = connect(PG_URL, f"the PostgreSQL tests of {request.module.__name__}")
    yield con
    con.close()


@pytest.fixture
def pg_schema(pg: psycopg.Connection[tuple[Any, ...]]) -> Iterator[Callable[[], str]]:
    """A factory of unique schema names; every schema it named (and its `_loading` twin, which the CDM loader
    builds before swapping it in) is dropped after."""
    names: list[str] = []

    def make() -> str:
        names.append(f"dari_test_{uuid.uuid4().hex[:12]}")
        return names[-1]

    yield make
    for name in names:
        for schema in (name, f"{name}_loading"):
            pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]


@pytest.fixture
def pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after (connections still open to it are ended)."""
    admin = connect(PG_ADMIN_URL, f"the PostgreSQL tests of {request.module.__name__}")
    name = f"dari_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield f"{SERVER}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        admin.close()
