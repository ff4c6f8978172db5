"""The hub's web application: portal pages, REST API, error handling, security headers."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from dari import __version__
from dari.errors import DariError, InputError
from dari.hub import audit
from dari.hub.db.engine import make_engine, require_schema, session_factory
from dari.hub.governance.errors import AuthenticationError, ConflictError, ForbiddenError, NotFoundError
from dari.hub.monitoring_checks import MAX_PUBLICATION_BYTES, PublicationError
from dari.hub.notifications import mail_after_commit
from dari.hub.settings import HubSettings
from dari.hub.web.body_limit import BodyLimit
from dari.hub.web.deps import LoginRequiredError, PortalState, language
from dari.hub.web.i18n import translate
from dari.hub.web.routes import (
    api,
    auth,
    catalog,
    drb_pages,
    feasibility,
    governance,
    monitoring_api,
    monitoring_pages,
    pages,
    roles_approver,
    roles_clinician,
    roles_notifications,
    roles_steward,
    roles_vendor,
    tickets,
)
from dari.hub.web.routes.roles_common import install_bell
from dari.hub.web.search_service import CatalogSearch

_STATUS: list[tuple[type[DariError], int]] = [
    (LoginRequiredError, 401),
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (PublicationError, 422),
    (InputError, 400),
]
# Sites publish monitoring (windows and their inference audit) in one body: larger than any form.
_LARGER_BODIES = {("POST", "/api/v1/monitoring"): MAX_PUBLICATION_BYTES}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
}


class _Guard(BaseHTTPMiddleware):
    """Add security headers to every response (body sizes are counted by `BodyLimit`, outside this)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def create_app(settings: HubSettings) -> FastAPI:
    """The hub application for a migrated store (refuses an uninitialised one)."""
    engine = make_engine(settings.database)
    require_schema(engine)
    templates = Jinja2Templates(directory=str(files("dari.hub.web") / "templates"))
    templates.env.globals.update(t=translate, version=__version__)
    app = FastAPI(
        title="dari hub API",
        version=__version__,
        description="Catalog, study applications, joint DRB review, access grants and audit of the dari hub.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.portal = PortalState(
        settings=settings, factory=session_factory(engine), templates=templates, search=CatalogSearch(settings)
    )
    # Roles and notifications: the nav's bell, e-mail after each commit that notified someone.
    install_bell(templates)
    app.state.portal.extras["wait_for_mail"] = mail_after_commit(app.state.portal.factory, settings.smtp)
    app.add_middleware(_Guard)
    # Added last, so outermost: every body is counted as it is read, chunked ones included, before anything else.
    # The application form also carries the IRB approval PDF (dari.hub.governance.documents).
    larger = {route: settings.max_form_bytes + governance.FORM_BODY_EXTRA for route in governance.FORM_BODY_ROUTES}
    app.add_middleware(BodyLimit, max_bytes=settings.max_form_bytes, larger={**_LARGER_BODIES, **larger})
    app.mount("/static", StaticFiles(directory=str(files("dari.hub.web") / "static")), name="static")
    routers = (auth.router, catalog.router, governance.router, pages.router, api.router, tickets.router)
    for router in (*routers, drb_pages.router, monitoring_api.router, monitoring_pages.router, feasibility.router):
        app.include_router(router)
    for router in (roles_approver.router, roles_vendor.router, roles_clinician.router, roles_steward.router):
        app.include_router(router)
    app.include_router(roles_notifications.router)
    _install_error_handlers(app)
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DariError)
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
        portal: PortalState = request.app.state.portal
        actor = getattr(request.state, "username", "anonymous")
        if status == 403:
            # A refused action is on record even though its own transaction was rolled back.
            audit.record_alone(
                portal.factory,
                actor=actor,
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
        lang = language(request)
        return portal.templates.TemplateResponse(
            request,
            "error.html",
            {"lang": lang, "user": None, "status": status, "message": str(exc)},
            status_code=status,
        )

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        if _is_api(request):
            return JSONResponse({"detail": errors}, status_code=422)
        portal: PortalState = request.app.state.portal
        message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return portal.templates.TemplateResponse(
            request,
            "error.html",
            {"lang": language(request), "user": None, "status": 422, "message": message},
            status_code=422,
        )

    app.add_exception_handler(DariError, handle)
    app.add_exception_handler(RequestValidationError, invalid)


def login_page_message(expired: bool, lang: str) -> str:
    """The notice above the login form."""
    return translate("session_expired", lang) if expired else ""
