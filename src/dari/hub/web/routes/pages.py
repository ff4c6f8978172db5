"""Home, health and the audit view."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from dari.hub import audit
from dari.hub.db.models import AuditEntry, User
from dari.hub.governance.roles import Permission
from dari.hub.web.deps import DbSession, Lang, PortalSession, requires, state

router = APIRouter(include_in_schema=False)
Auditor = Annotated[User, Depends(requires(Permission.VIEW_AUDIT))]


@router.get("/")
def home() -> Response:
    """The catalog is the front page."""
    return RedirectResponse("/catalog", status_code=303)


@router.get("/healthz")
def health() -> dict[str, str]:
    """Liveness for process supervisors."""
    return {"status": "ok"}


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: DbSession, web: PortalSession, user: Auditor, lang: Lang) -> Response:
    """The newest audit entries and whether the whole chain verifies."""
    entries = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(200)).scalars().all()
    return state(request).templates.TemplateResponse(
        request,
        "audit.html",
        {"lang": lang, "user": user, "csrf": web.csrf_token, "entries": entries, "check": audit.verify(session)},
    )
