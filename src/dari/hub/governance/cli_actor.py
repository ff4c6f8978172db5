"""Who a hub command-line action is by: a user's API token, or the store's owner proven by the hub's key file.

A name on the command line (`--by approver1`) proves nothing: anyone who can reach the store could type it. The CLI
therefore acts either

- with a user's API token (`DARI_HUB_TOKEN`, or `--token-file`; never the token itself as an argument, which
  would sit in the shell history and the process list): the action is that user's, and `--by` may only repeat
  their name; or
- as the store's owner, proven by reading the hub's owner-only signing key file (`dari.hub.keys`; mode 0600, never
  in the database): the operator who ran `dari hub init` on the hub's host may act for a named user (`--by`), or
  with no name as `store-owner` (bootstrapping sites and the first admin). A database login alone (PostgreSQL) is
  not enough.

Every CLI action records `cli.act` (who, how proven, which command) in the same transaction as the action;
every refusal records `cli.denied` in a transaction of its own, since the refused action's is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from dari.errors import InputError
from dari.hub import audit
from dari.hub.db.models import User
from dari.hub.governance.errors import AuthenticationError, ForbiddenError
from dari.hub.governance.users import USERNAME_PATTERN, get_user, user_by_token
from dari.hub.keys import hub_key_paths

STORE_OWNER = "store-owner"


@dataclass(frozen=True)
class CliCredentials:
    """What the command line was given: an API token (read from the environment or a file) and/or a user name."""

    token: str | None = None
    by: str | None = None


@dataclass(frozen=True)
class CliActor:
    """Who acts: a hub user (None for the store's owner acting as itself), their name and how it was proven."""

    user: User | None
    name: str
    via: str


def cli_actor(session: Session, store: str | Path, credentials: CliCredentials, command: str) -> CliActor:
    """The proven actor of a CLI command (recorded as `cli.act`); AuthenticationError/ForbiddenError otherwise."""
    if credentials.token:
        user = user_by_token(session, credentials.token)
        if credentials.by and credentials.by != user.username:
            raise ForbiddenError(f"the API token is {user.username}'s: it cannot act as {credentials.by}")
        actor = CliActor(user=user, name=user.username, via="api-token")
    else:
        try:
            hub_key_paths(store).private_key()  # readable only by the store's owner (mode 0600 checked)
        except InputError as exc:
            raise AuthenticationError(
                "the CLI acts with a hub API token (DARI_HUB_TOKEN or --token-file) or as the store's owner, "
                f"who can read the hub's signing key file; neither was available ({exc})"
            ) from None
        named = get_user(session, credentials.by) if credentials.by else None
        if named is not None and not named.active:
            raise AuthenticationError(f"user {named.username} is deactivated")
        actor = CliActor(user=named, name=named.username if named else STORE_OWNER, via="store-owner-key")
    audit.record(session, actor=actor.name, action="cli.act", target=command[:200], detail={"via": actor.via})
    return actor


def require_user(actor: CliActor, command: str) -> User:
    """The hub user an action needs (the store's owner must name one with --by)."""
    if actor.user is None:
        raise InputError(f"`{command}` acts as a hub user: name one with --by")
    return actor.user


def require_admin(actor: CliActor) -> None:
    """Only the store's owner or a platform admin may change sites and users."""
    if actor.user is not None and actor.user.role != "platform_admin":
        raise ForbiddenError(f"role {actor.user.role} may not add sites or users")


def record_cli_refusal(factory: sessionmaker[Session], credentials: CliCredentials, command: str, reason: str) -> None:
    """Put a refused CLI action on record (in its own transaction)."""
    claimed = credentials.by if credentials.by and USERNAME_PATTERN.match(credentials.by) else None
    audit.record_alone(
        factory,
        actor="anonymous",
        action="cli.denied",
        target=command[:200],
        outcome="deny",
        detail={"claimed_user": claimed, "with_token": bool(credentials.token), "reason": reason[:500]},
    )


@contextmanager
def cli_transaction(
    factory: sessionmaker[Session], store: str | Path, credentials: CliCredentials, command: str
) -> Iterator[tuple[Session, CliActor]]:
    """One CLI action's transaction with its proven actor; a refusal (401/403) is rolled back and audited."""
    try:
        with factory() as session, session.begin():
            yield session, cli_actor(session, store, credentials, command)
    except (AuthenticationError, ForbiddenError) as exc:
        record_cli_refusal(factory, credentials, command, str(exc))
        raise
