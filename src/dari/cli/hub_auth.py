"""How hub commands prove who acts: options, reading the token, and the audited transaction of one CLI action."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dari.errors import InputError, StoreError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from dari.hub.governance.cli_actor import CliActor, CliCredentials

TOKEN_ENV = "DARI_HUB_TOKEN"  # noqa: S105 (the variable's name, not a token)
ByOption = Annotated[
    str | None,
    typer.Option(
        "--by",
        help="Hub user acting: with a token, the token's owner; without one, the store's owner (who can read the "
        "hub's key file) acts for this user.",
    ),
]
TokenFileOption = Annotated[
    Path | None,
    typer.Option("--token-file", help=f"File holding your hub API token (or set {TOKEN_ENV}); never the token itself."),
]


def read_credentials(by: str | None, token_file: Path | None) -> CliCredentials:
    """The token from --token-file or DARI_HUB_TOKEN (file first), and the name given with --by."""
    from dari.hub.governance.cli_actor import CliCredentials

    token = None
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the token: {exc}", file=str(token_file)) from None
        if not token:
            raise InputError("the token file is empty", file=str(token_file))
    else:
        token = os.environ.get(TOKEN_ENV, "").strip() or None
    return CliCredentials(token=token, by=by)


def existing_engine(db: str) -> Engine:
    """An engine on a hub store that exists: a missing SQLite file is refused, never created (`dari hub init` is)."""
    from dari.hub.db.engine import database_url, make_engine

    url = database_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise StoreError(f"no hub store at {db}: give --db (or DARI_HUB_DB), or create one with `dari hub init`")
    return make_engine(db)


@contextmanager
def governed(db: str, by: str | None, token_file: Path | None, command: str) -> Iterator[tuple[Session, CliActor]]:
    """The transaction of one governance action on the hub store, with its proven actor (refusals audited)."""
    from dari.hub.db.engine import require_schema, session_factory
    from dari.hub.governance.cli_actor import cli_transaction

    credentials = read_credentials(by, token_file)
    engine = existing_engine(db)
    try:
        require_schema(engine)
        with cli_transaction(session_factory(engine), db, credentials, command) as acting:
            yield acting
    finally:
        engine.dispose()


def proven_user(db: str, by: str | None, token_file: Path | None, command: str) -> str:
    """The name of the hub user a command acts as, proven like every governance action (`cli.act` recorded)."""
    from dari.hub.governance.cli_actor import require_user

    with governed(db, by, token_file, command) as (_session, actor):
        return require_user(actor, command).username
