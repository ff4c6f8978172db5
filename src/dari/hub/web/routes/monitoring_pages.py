"""Portal pages of monitoring in real use: the models × sites overview, a model's plots, alerts and inference audit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from dari.hub.db.models import User
from dari.hub.governance.errors import ForbiddenError
from dari.hub.governance.roles import Permission
from dari.hub.monitoring import (
    InferencePage,
    alerts,
    inferences,
    may_see_inferences,
    monitored,
    site_timeline,
)
from dari.hub.web.deps import DbSession, Lang, PortalSession, requires, state
from dari.hub.web.monitoring_plots import SCORE, monitoring_svgs
from dari.hub.web.routes.monitoring_api import SHA256_PATTERN, SITE_PATTERN
from dari.monitoring.publication import MonitoringWindow

router = APIRouter(include_in_schema=False)
Watcher = Annotated[User, Depends(requires(Permission.VIEW_MONITORING))]
ModelSha = Annotated[str, Path(pattern=SHA256_PATTERN)]
SiteId = Annotated[str, Path(pattern=SITE_PATTERN)]
Status = Annotated[int | None, Query(ge=100, le=599)]
Offset = Annotated[int, Query(ge=0, le=2_147_483_647)]
PAGE_SIZE = 25
_SEVERITY_ORDER = {"critical": 0, "warning": 1}


def _badges(window: MonitoringWindow | None) -> list[dict[str, str]]:
    """One badge per alert kind in the window, with its worst severity."""
    worst: dict[str, str] = {}
    for alert in window.alerts if window else []:
        if _SEVERITY_ORDER[alert.severity] < _SEVERITY_ORDER.get(worst.get(alert.kind, ""), 9):
            worst[alert.kind] = alert.severity
    return [
        {"kind": kind, "severity": worst[kind]} for kind in sorted(worst, key=lambda k: (_SEVERITY_ORDER[worst[k]], k))
    ]


def _summary(window: MonitoringWindow | None) -> dict[str, Any]:
    """The latest window's headline numbers for the overview."""
    if window is None:
        return {}
    performance = window.performance
    return {
        "start": window.start,
        "end": window.end,
        "calls": window.activity.calls,
        "score_psi": next((d.psi for d in window.drift if d.name == SCORE), None),
        "auroc": performance.auroc if performance else None,
        "oe_ratio": performance.oe_ratio if performance else None,
    }


@router.get("/monitoring", response_class=HTMLResponse)
def overview(request: Request, session: DbSession, web: PortalSession, user: Watcher, lang: Lang) -> Response:
    """Every model × site that published monitoring: its latest window and that window's alerts."""
    rows = [{"d": d, "latest": _summary(d.latest), "badges": _badges(d.latest)} for d in monitored(session)]
    return state(request).templates.TemplateResponse(
        request, "monitoring.html", {"lang": lang, "user": user, "csrf": web.csrf_token, "rows": rows}
    )


def _inference_page(session: DbSession, sha: str, site_id: str, status: int | None, offset: int) -> dict[str, Any]:
    page: InferencePage = inferences(session, sha, site_id, status=status, limit=PAGE_SIZE, offset=offset)
    base = f"/monitoring/{sha}/{site_id}"
    return {
        "page": page,
        "base": base,
        "status": status,
        "previous": max(offset - PAGE_SIZE, 0) if offset > 0 else None,
        "next": offset + PAGE_SIZE if offset + PAGE_SIZE < page.total else None,
    }


@router.get("/monitoring/{model_sha256}/{site_id}", response_class=HTMLResponse)
def detail(
    model_sha256: ModelSha,
    site_id: SiteId,
    request: Request,
    session: DbSession,
    web: PortalSession,
    user: Watcher,
    lang: Lang,
    status: Status = None,
    offset: Offset = 0,
) -> Response:
    """A model at a site: plots over time, the alert table and (for the site's own roles) the inference audit."""
    found = site_timeline(session, model_sha256, site_id)
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "st": found,
        "svgs": monitoring_svgs(found.windows, found.policy, lang),
        "alerts": alerts(session, model_sha256, site_id),
        "audit": _inference_page(session, model_sha256, site_id, status, offset)
        if may_see_inferences(user, site_id)
        else None,
    }
    return state(request).templates.TemplateResponse(request, "monitoring_detail.html", context)


@router.get("/monitoring/{model_sha256}/{site_id}/inferences", response_class=HTMLResponse)
def inference_rows(
    model_sha256: ModelSha,
    site_id: SiteId,
    request: Request,
    session: DbSession,
    web: PortalSession,
    user: Watcher,
    lang: Lang,
    status: Status = None,
    offset: Offset = 0,
) -> Response:
    """One page of the inference audit (htmx swaps it into the model's page)."""
    if not may_see_inferences(user, site_id):
        raise ForbiddenError(f"the inference audit of {site_id} is for that site's own roles and admins")
    context = {"lang": lang, "audit": _inference_page(session, model_sha256, site_id, status, offset)}
    return state(request).templates.TemplateResponse(request, "_inferences.html", context)
