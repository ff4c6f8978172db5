"""Hub users: argon2-hashed passwords, API tokens stored as hashes, constant-time behaviour for unknown users."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dari.errors import InputError
from dari.hub import audit
from dari.hub.db.models import Site, User
from dari.hub.governance.errors import AuthenticationError, ConflictError, NotFoundError
from dari.hub.governance.roles import SITE_ROLES, Role

_HASHER = PasswordHasher()
# Verified when the user is unknown, so that a login takes the same time whether or not the name exists.
_DUMMY_HASH = _HASHER.hash("dari-timing-equaliser")
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10


def token_hash(token: str) -> str:
    """SHA-256 of a bearer token or session token (tokens are random; a fast hash suffices)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str = "",
    site_id: str | None = None,
    actor: str = "system",
) -> User:
    """Create a user after checking the name, password length, role and site."""
    if not USERNAME_PATTERN.match(username):
        raise InputError(f"user name must be 2-64 of a-z 0-9 . _ -, starting with a letter or digit, got {username!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    try:
        role = Role(role)
    except ValueError:
        raise InputError(f"role must be one of {', '.join(r.value for r in Role)}, got {role!r}") from None
    if role in SITE_ROLES and site_id is None:
        raise InputError(f"role {role.value} needs a site (--site)")
    if site_id is not None and session.get(Site, site_id) is None:
        raise NotFoundError(f"unknown site {site_id!r}")
    if session.execute(select(User.id).where(User.username == username)).first():
        raise ConflictError(f"user {username!r} exists already")
    user = User(
        username=username,
        display_name=display_name or username,
        role=role.value,
        site_id=site_id,
        password_hash=_HASHER.hash(password),
    )
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.add", target=f"user:{username}", detail={"role": role.value})
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The active user with this name and password; otherwise AuthenticationError (same time either way)."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise AuthenticationError("wrong user name or password") from None
    if user is None or not user.active:
        raise AuthenticationError("wrong user name or password")
    return user


def issue_api_token(session: Session, user: User) -> str:
    """A new bearer token for the REST API (replaces the previous one); only its hash is kept."""
    token = "dari_" + secrets.token_urlsafe(32)
    user.api_token_hash = token_hash(token)
    audit.record(session, actor=user.username, action="token.issue", target=f"user:{user.username}")
    return token


def user_by_token(session: Session, token: str) -> User:
    """The active user a bearer token belongs to."""
    user = session.execute(select(User).where(User.api_token_hash == token_hash(token))).scalar_one_or_none()
    if user is None or not user.active:
        raise AuthenticationError("unknown or revoked API token")
    return user


def get_user(session: Session, username: str) -> User:
    """A user by name."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"unknown user {username!r}")
    return user
