"""The PostgreSQL server the tests use: loopback with trust auth by default, `DARI_TEST_PG` (a server URL without a
database, `postgresql://user@host:port`) elsewhere. Tests that need it skip loudly when it is not there."""

from __future__ import annotations

import os
import warnings
from typing import Any, NoReturn

import psycopg
import pytest

SERVER = os.environ.get("DARI_TEST_PG", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
PG_URL = f"{SERVER}/test"  # the database the CDM, cohort, model and quality tests make schemas in
PG_ADMIN_URL = f"{SERVER}/postgres"  # where the hub tests create and drop their own databases


def skip_loudly(url: str, exc: Exception, what: str) -> NoReturn:
    """Skip with a warning that cannot be missed in the summary."""
    reason = f"!!! PostgreSQL NOT AVAILABLE at {url} ({type(exc).__name__}: {exc}); {what} DID NOT RUN !!!"
    warnings.warn(reason, stacklevel=2)
    pytest.skip(reason)


def connect(url: str, what: str) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection, or a loud skip of `what`."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        skip_loudly(url, exc, what)
