"""Request dependencies of the portal and API: database session, current user, role checks, CSRF, language.

Roles are enforced here, once, as route dependencies (`Requires(Permission.X)`), never inside handlers.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from dari.hub.db.models import User, WebSession, utcnow
from dari.hub.governance.errors import AuthenticationError, ForbiddenError
from dari.hub.governance.roles import Permission, allowed
from dari.hub.governance.users import token_hash, user_by_token
from dari.hub.settings import HubSettings
from dari.hub.web.i18n import LANGUAGES

SESSION_COOKIE = "dari_session"
LOGIN_CSRF_COOKIE = "dari_login_csrf"
LANG_COOKIE = "dari_lang"


class LoginRequiredError(AuthenticationError):
    """No valid portal session; HTML routes redirect to the login page."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass
class PortalState:
    """What every request shares: settings, the session factory, templates and the search index."""

    settings: HubSettings
    factory: sessionmaker[Session]
    templates: Jinja2Templates
    search: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """Commit what the block wrote (with what the request read before it), or roll all of it back."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def state(request: Request) -> PortalState:
    """The portal's shared state."""
    portal: PortalState = request.app.state.portal
    return portal


def db(request: Request) -> Iterator[Session]:
    """A database session for the request; handlers open `session.begin()` around writes."""
    with state(request).factory() as session:
        yield session


DbSession = Annotated[Session, Depends(db)]
# Ids in paths are bounded so that an absurd number is a 422, not an overflow inside the database driver.
ApplicationId = Annotated[int, Path(ge=1, le=2_147_483_647)]


def language(request: Request) -> str:
    """?lang= first, then the language cookie, then Korean."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "ko"
    return chosen if chosen in LANGUAGES else "ko"


Lang = Annotated[str, Depends(language)]


def _web_session(request: Request, session: Session) -> WebSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = session.get(WebSession, token_hash(token))
    if found is None:
        raise LoginRequiredError("unknown session", expired=True)
    expires = found.expires_at if found.expires_at.tzinfo else found.expires_at.replace(tzinfo=dt.UTC)
    if expires <= utcnow() or not found.user.active:
        with unit_of_work(session):
            session.execute(delete(WebSession).where(WebSession.token_hash == found.token_hash))
        raise LoginRequiredError("session expired", expired=True)
    return found


def portal_session(request: Request, session: DbSession) -> WebSession:
    """The logged-in portal session, or LoginRequiredError."""
    found = _web_session(request, session)
    if found is None:
        raise LoginRequiredError("login required")
    request.state.username = found.user.username
    return found


PortalSession = Annotated[WebSession, Depends(portal_session)]


def current_user(web: PortalSession) -> User:
    """The logged-in user of the portal."""
    return web.user


CurrentUser = Annotated[User, Depends(current_user)]


def api_user(request: Request, session: DbSession) -> User:
    """The user a bearer token belongs to (REST API)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("an API token is required: Authorization: Bearer <token>")
    user = user_by_token(session, token.strip())
    request.state.username = user.username
    return user


ApiUser = Annotated[User, Depends(api_user)]


def requires(permission: Permission, *, api: bool = False) -> Callable[..., User]:
    """A dependency that lets through only users whose role holds `permission`."""

    def check_portal(user: CurrentUser) -> User:
        if not allowed(user.role, permission):
            raise ForbiddenError(f"role {user.role} lacks permission {permission.value}")
        return user

    def check_api(user: ApiUser) -> User:
        if not allowed(user.role, permission):
            raise ForbiddenError(f"role {user.role} lacks permission {permission.value}")
        return user

    return check_api if api else check_portal


async def csrf_protect(request: Request, web: PortalSession) -> None:
    """State-changing portal requests must echo the session's CSRF token (form field or X-CSRF-Token header)."""
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, web.csrf_token):
        raise ForbiddenError("missing or forged CSRF token")


Csrf = Depends(csrf_protect)


def start_session(session: Session, response: Response, user: User, settings: HubSettings) -> str:
    """Create a portal session and set its cookie (HttpOnly, SameSite=Strict, Secure unless told otherwise)."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=utcnow() + dt.timedelta(minutes=settings.session_minutes),
        )
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_minutes * 60,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
    )
    return token


def end_session(request: Request, session: Session, response: Response) -> None:
    """Forget the portal session on the server and in the browser."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))
    response.delete_cookie(SESSION_COOKIE)


def signed_in(request: Request) -> tuple[User | None, str]:
    """The portal user and CSRF token of the request's session if it is valid, else (None, ""); never raises.

    Error pages use it to show the site's navigation to a signed-in person.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None, ""
    with state(request).factory() as session:
        found = session.get(WebSession, token_hash(token))
        if found is None or not found.user.active:
            return None, ""
        expires = found.expires_at if found.expires_at.tzinfo else found.expires_at.replace(tzinfo=dt.UTC)
        if expires <= utcnow():
            return None, ""
        user = found.user
        session.expunge(user)
        return user, found.csrf_token
