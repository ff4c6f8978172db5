"""Engine, sessions and migrations of the hub store: SQLite by default, PostgreSQL for a real consortium."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from dari.errors import StoreError


def database_url(target: str | Path) -> str:
    """A SQLAlchemy URL from a path to a SQLite file or a postgresql:// URL (psycopg 3 driver)."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (below), so the driver must not open transactions of its own.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")  # the portal and the CLI may write at the same time
    cursor.close()


def make_engine(target: str | Path) -> Engine:
    """An engine for the hub store; SQLite gets foreign keys and a busy timeout."""
    url = database_url(target)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        # Two processes that both read the audit head and then append would deadlock on SQLite's lock upgrade
        # (SQLITE_BUSY at once, no busy wait): every transaction takes the write lock up front instead.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def alembic_config() -> Config:
    """Alembic's configuration pointing at the migrations shipped in the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("dari.hub") / "migrations"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the store's schema to `revision` (idempotent)."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def require_schema(engine: Engine) -> None:
    """Refuse to work on a database that `dari hub init` has not prepared."""
    if not inspect(engine).has_table("alembic_version"):
        raise StoreError(
            f"the hub store at {engine.url.render_as_string(hide_password=True)} is not initialised: "
            "run `dari hub init` first"
        )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (the portal renders after committing)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back as a whole when it raises."""
    with factory() as session, session.begin():
        yield session
