"""Errors as a person meets them: in their language, with the site's navigation, the form shown again filled in.

The REST API answers JSON; portal pages get `error.html`; a refused form (`FORM_PAGES`) comes back as its own page
with the input kept and each field's message beside it.
"""

from __future__ import annotations

from html import escape
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dari.errors import DariError, InputError
from dari.hub import audit
from dari.hub.governance.errors import AuthenticationError, ConflictError, ForbiddenError, NotFoundError
from dari.hub.monitoring_checks import PublicationError
from dari.hub.web.deps import LoginRequiredError, PortalState, language, signed_in
from dari.hub.web.forms import FORM_PAGES, WHOLE_FORM_FIELD, FormError, field_messages, refill
from dari.hub.web.i18n import translate

_STATUS: list[tuple[type[DariError], int]] = [
    (LoginRequiredError, 401),
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (PublicationError, 422),
    (InputError, 400),
]
# A refused form is shown again for these; a forged request (403) or a lost session (401) is not.
_FORM_AGAIN = frozenset({400, 404, 409, 413, 422})


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def install(app: FastAPI) -> None:
    """Register the portal's and the API's error handlers on the application."""
    app.add_exception_handler(DariError, _dari_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)


async def _dari_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DariError)
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
    portal: PortalState = request.app.state.portal
    if status == 403:
        # A refused action is on record even though its own transaction was rolled back.
        audit.record_alone(
            portal.factory,
            actor=getattr(request.state, "username", "anonymous"),
            action="access.denied",
            target=f"{request.method} {request.url.path}"[:200],
            outcome="deny",
            detail={"reason": str(exc)[:500]},
        )
    if _is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)
    if isinstance(exc, LoginRequiredError):
        target = "/login?expired=1" if exc.expired else "/login"
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    fields = exc.errors if isinstance(exc, FormError) else {}
    return await error_page(request, status, str(exc), fields)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e.get("loc", ())[1:]), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    if _is_api(request):
        return JSONResponse({"detail": errors}, status_code=422)
    fields = field_messages(exc.errors(), skip=1, whole_form=WHOLE_FORM_FIELD.get(_route_path(request), ""))
    message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return await error_page(request, 422, message, fields)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_api(request) or exc.status_code < 400:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return await error_page(request, exc.status_code, str(exc.detail), {})


def _route_path(request: Request) -> str:
    return str(getattr(request.scope.get("route"), "path", ""))


async def error_page(request: Request, status: int, message: str, fields: dict[str, str]) -> Response:
    """The form the request came from, filled in with its errors; else the error page with navigation."""
    lang = language(request)
    page = FORM_PAGES.get(_route_path(request)) if request.method == "POST" and status in _FORM_AGAIN else None
    if page is not None:
        again = await _form_again(request, page.format(**request.path_params), message, fields, lang, status)
        if again is not None:
            return again
    user, csrf = signed_in(request)
    portal: PortalState = request.app.state.portal
    context = {"lang": lang, "user": user, "csrf": csrf, "status": status, "message": message}
    return portal.templates.TemplateResponse(request, "error.html", context, status_code=status)


async def _form_again(
    request: Request, page: str, message: str, fields: dict[str, str], lang: str, status: int
) -> Response | None:
    # The form's page exactly as this person's browser gets it (same session, same language), then filled in.
    transport = httpx.ASGITransport(app=request.app)
    params = {"lang": request.query_params["lang"]} if "lang" in request.query_params else None
    base = str(request.base_url)
    async with httpx.AsyncClient(transport=transport, base_url=base, cookies=dict(request.cookies)) as client:
        shown = await client.get(page, params=params)
    if shown.status_code != 200:
        return None
    values = await _submitted(request)
    html = refill(shown.text, values, fields, lang)
    if not fields:
        html = html.replace("<main>", f"<main>{_notice(status, message, lang)}", 1)
    response = HTMLResponse(html, status_code=status)
    for cookie in shown.headers.get_list("set-cookie"):
        response.headers.append("set-cookie", cookie)
    return response


async def _submitted(request: Request) -> dict[str, Any]:
    try:
        form = await request.form()
    except Exception:  # the body was refused or is not a form: nothing to keep
        return {}
    values: dict[str, Any] = {}
    for name in form:
        items = [v for v in form.getlist(name) if isinstance(v, str)]
        values[name] = items if len(items) > 1 else (items[0] if items else "")
    return values


def _notice(status: int, message: str, lang: str) -> str:
    headline = translate(_HEADLINE.get(status, "bad_request"), lang)
    return (
        f'<div class="card error" role="alert" id="form-error"><strong>{escape(headline)}</strong>'
        f'<p class="muted">{escape(message)}</p></div>'
    )


_HEADLINE = {403: "forbidden", 404: "not_found", 409: "conflict", 413: "too_large"}
