"""The hub's web application: portal pages, REST API, error handling, security headers."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from dari import __version__
from dari.hub.db.engine import make_engine, require_schema, session_factory
from dari.hub.monitoring_checks import MAX_PUBLICATION_BYTES
from dari.hub.notifications import mail_after_commit
from dari.hub.pods import LARGE_BODY_ROUTES as POD_BODY_ROUTES
from dari.hub.settings import HubSettings
from dari.hub.web import error_pages
from dari.hub.web.body_limit import BodyLimit
from dari.hub.web.deps import PortalState
from dari.hub.web.i18n import label, translate
from dari.hub.web.routes import (
    airlock_pages,
    api,
    auth,
    catalog,
    drb_pages,
    feasibility,
    governance,
    monitoring_api,
    monitoring_pages,
    pages,
    pods_api,
    roles_approver,
    roles_clinician,
    roles_notifications,
    roles_steward,
    roles_vendor,
    tickets,
)
from dari.hub.web.routes.roles_common import install_bell
from dari.hub.web.search_service import CatalogSearch

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
    templates.env.globals.update(t=translate, label=label, version=__version__)
    templates.env.filters["label"] = label
    app = FastAPI(
        title="dari hub API",
        version=__version__,
        description="Catalog, study applications, joint DRB review, access grants and audit of the dari hub.",
        docs_url=None,  # served below from vendored assets: the default page loads Swagger UI from a CDN
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
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_form_bytes, larger={**_LARGER_BODIES, **larger, **POD_BODY_ROUTES}
    )
    app.mount("/static", StaticFiles(directory=str(files("dari.hub.web") / "static")), name="static")
    routers = (auth.router, catalog.router, governance.router, pages.router, api.router, tickets.router)
    for router in (*routers, drb_pages.router, monitoring_api.router, monitoring_pages.router, feasibility.router):
        app.include_router(router)
    for router in (roles_approver.router, roles_vendor.router, roles_clinician.router, roles_steward.router):
        app.include_router(router)
    app.include_router(roles_notifications.router)
    app.include_router(pods_api.router)  # research pods: submission, site pull/report/release, airlock pages
    app.include_router(airlock_pages.router)
    error_pages.install(app)
    app.add_api_route("/api/docs", api_docs, methods=["GET"], include_in_schema=False, response_class=HTMLResponse)
    return app


SWAGGER_UI = "/static/swagger-ui-5.36.0"


def api_docs() -> HTMLResponse:
    """The REST API's Swagger UI from the hub's own static files (no CDN, no inline script)."""
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>dari hub API · Swagger UI</title>
  <link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{SWAGGER_UI}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui" data-openapi="/api/openapi.json"></div>
  <script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
  <script src="/static/swagger-ui-init.js"></script>
</body>
</html>
"""
    )


def login_page_message(expired: bool, lang: str) -> str:
    """The notice above the login form."""
    return translate("session_expired", lang) if expired else ""
