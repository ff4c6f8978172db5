"""Portal page of the AI vendor: their models in the registry, reports and each site's decision, deployments
(from the audit log), monitoring alerts and clinicians' feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dari.hub.db.models import User
from dari.hub.deployment_views import vendor_overview
from dari.hub.feedback import RATING_LABELS
from dari.hub.web.deps import DbSession, Lang, PortalSession, state
from dari.hub.web.routes.roles_common import role_user

router = APIRouter(include_in_schema=False)
Vendor = Annotated[User, Depends(role_user("ai_vendor"))]


@router.get("/vendor", response_class=HTMLResponse)
def vendor_page(request: Request, session: DbSession, web: PortalSession, user: Vendor, lang: Lang) -> Response:
    """Everything the hub holds about the vendor's models."""
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "o": vendor_overview(session, user),
        "ratings": RATING_LABELS,
    }
    return state(request).templates.TemplateResponse(request, "vendor.html", context)
