"""Portal pages of notifications: the list (which first checks the user's grants for coming expiry), mark read,
and the address notifications are mailed to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dari.hub.notifications import address_of, mark_read, notifications_of, notify_expiring, set_address
from dari.hub.web.deps import Csrf, CurrentUser, DbSession, Lang, PortalSession, state, unit_of_work

router = APIRouter(include_in_schema=False)


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(
    request: Request, session: DbSession, web: PortalSession, user: CurrentUser, lang: Lang
) -> Response:
    """The user's notifications, newest first (grant expiry is checked on this page's load)."""
    with unit_of_work(session):
        notify_expiring(session, user=user)
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "notes": notifications_of(session, user),
        "email": address_of(session, user) or "",
    }
    return state(request).templates.TemplateResponse(request, "notifications.html", context)


@router.post("/notifications/read", dependencies=[Csrf])
def read(
    session: DbSession, user: CurrentUser, notification_id: Annotated[int | None, Form(ge=1, le=2_147_483_647)] = None
) -> Response:
    """Mark one notification (or, without an id, all) read."""
    with unit_of_work(session):
        mark_read(session, user, notification_id)
    return RedirectResponse("/notifications", status_code=303)


@router.post("/notifications/email", dependencies=[Csrf])
def email(session: DbSession, user: CurrentUser, address: Annotated[str, Form(max_length=254)] = "") -> Response:
    """Set or clear where the user's notifications are mailed."""
    with unit_of_work(session):
        set_address(session, user, address)
    return RedirectResponse("/notifications", status_code=303)
