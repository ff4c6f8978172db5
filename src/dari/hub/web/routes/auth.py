"""Portal login and logout (session cookie; login form guarded by a double-submit CSRF cookie)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dari.hub import audit
from dari.hub.db.engine import transaction
from dari.hub.governance.errors import AuthenticationError, ForbiddenError
from dari.hub.governance.throttle import ThrottledError, record_failure, record_success, refuse_if_locked
from dari.hub.governance.users import USERNAME_PATTERN, authenticate
from dari.hub.web.deps import LOGIN_CSRF_COOKIE, Csrf, DbSession, Lang, end_session, start_session, state, unit_of_work
from dari.hub.web.forms import refill

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, lang: Lang, expired: int = 0) -> Response:
    """The login page."""
    token = secrets.token_urlsafe(32)
    notice = "session_expired" if expired else ""
    response = state(request).templates.TemplateResponse(
        request, "login.html", {"lang": lang, "user": None, "csrf": token, "notice": notice, "error": ""}
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=state(request).settings.secure_cookies
    )
    return response


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    lang: Lang,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=100)],
) -> Response:
    """Check the throttle, then the password; start a session or show the form again with a generic error."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        raise ForbiddenError("missing or forged CSRF token on the login form")
    portal = state(request)
    address = request.client.host if request.client else "unknown"
    tried = {"account": account_shown(username)}  # the name tried, never the password
    try:
        with unit_of_work(session):
            refuse_if_locked(session, username, address)
            user = authenticate(session, username, password)
            record_success(session, username)
            response: Response = RedirectResponse("/catalog", status_code=303)
            start_session(session, response, user, portal.settings)
            audit.record(session, actor=user.username, action="login", target=f"user:{user.username}")
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response
    except ThrottledError as exc:
        audit.record_alone(
            portal.factory,
            actor="anonymous",
            action="login",
            outcome="deny",
            detail={**tried, "reason": "throttled", "retry_after_s": exc.retry_after_s},
        )
        return _form_again(request, lang, "login_throttled", 429, {"Retry-After": str(exc.retry_after_s)}, username)
    except AuthenticationError:
        with transaction(portal.factory) as alone:
            record_failure(alone, username, address, portal.settings.login_throttle)
            audit.record(
                alone,
                actor="anonymous",
                action="login",
                outcome="deny",
                detail={**tried, "reason": "wrong user name or password"},
            )
        return _form_again(request, lang, "login_failed", 401, None, username)


def account_shown(username: str) -> str:
    """The account name as the audit log may show it: a well-formed user name, else only that it was malformed."""
    return username if USERNAME_PATTERN.match(username) else f"(malformed name of {len(username)} characters)"


def _form_again(
    request: Request, lang: str, error: str, status: int, headers: dict[str, str] | None, username: str
) -> Response:
    portal = state(request)
    token = secrets.token_urlsafe(32)
    page = portal.templates.get_template("login.html").render(
        {"request": request, "lang": lang, "user": None, "csrf": token, "notice": "", "error": error}
    )
    # The name tried stays in its field (never the password): dari.hub.web.forms.refill.
    failed = HTMLResponse(refill(page, {"username": username}, {}, lang), status_code=status, headers=headers)
    failed.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=portal.settings.secure_cookies)
    return failed


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request, session: DbSession) -> Response:
    """End the session."""
    response = RedirectResponse("/login", status_code=303)
    with unit_of_work(session):
        audit.record(session, actor=getattr(request.state, "username", "anonymous"), action="logout")
        end_session(request, session, response)
    return response


@router.get("/lang/{code}")
def switch_language(code: str, request: Request) -> Response:
    """Remember the chosen language and go back."""
    back = request.headers.get("referer", "/catalog")
    target = back if back.startswith(str(request.base_url)) else "/catalog"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie("dari_lang", "en" if code == "en" else "ko", samesite="lax", max_age=365 * 86400)
    return response
