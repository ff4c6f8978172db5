"""Shared pieces of the role pages: a role-check dependency and the bell's unread count in every page's nav."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import object_session

from dari.hub.db.models import User
from dari.hub.governance.errors import ForbiddenError
from dari.hub.notifications import unread_count
from dari.hub.web.deps import CurrentUser


def role_user(*roles: str) -> Callable[..., User]:
    """A dependency that lets through only users holding one of `roles` (and, for site roles, a site)."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise ForbiddenError(f"role {user.role} may not open this page")
        if user.role != "ai_vendor" and user.site_id is None:
            raise ForbiddenError(f"{user.role} {user.username} belongs to no site")
        return user

    return check


def install_bell(templates: Jinja2Templates) -> None:
    """Let base.html show the user's unread count (one COUNT query per rendered page)."""

    def unread(user: User | None) -> int:
        # The request's own session: on SQLite a second one would wait on the request's write lock.
        session = object_session(user) if user is not None else None
        return unread_count(session, user) if session is not None and user is not None else 0

    templates.env.globals["unread_notifications"] = unread
