"""The cohort builder: build or import a cohort, count it at every site (attrition, forecast), save, export, apply.

One form serves every action (`action` = search, add:SLOT:CONCEPT, run, save, atlas, json), so the essentials work
without JavaScript; htmx swaps only the builder where it is present. Counts come from the site connector
(`dari.hub.site_connector`) under the user's own `feasibility` grant, every site through its guard.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from dari.cohort import CohortDefinition
from dari.cohort.circe import import_circe
from dari.cohort.circe_export import export_circe
from dari.errors import InputError
from dari.hub import audit
from dari.hub.db.cohorts import SavedCohort
from dari.hub.db.models import User, utcnow
from dari.hub.governance.errors import NotFoundError
from dari.hub.governance.roles import Permission
from dari.hub.site_connector import SiteConnector
from dari.hub.web.cohort_form import (
    DOMAINS,
    OCCURRENCES,
    RULE_SLOTS,
    CohortForm,
    apply_variables,
    definition_from_form,
    form_from_definition,
    form_from_fields,
)
from dari.hub.web.deps import ApplicationId, Csrf, DbSession, Lang, PortalSession, requires, state, unit_of_work

router = APIRouter(include_in_schema=False)
Builder = Annotated[User, Depends(requires(Permission.APPLY))]
SLOTS = ("index_codes", *(f"rule{i}_codes" for i in range(RULE_SLOTS)))


def _fields(form: FormData) -> dict[str, Any]:
    data: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    data["sex"] = [v for v in form.getlist("sex") if isinstance(v, str)]
    return data


def _render(request: Request, web: Any, user: User, lang: str, form: CohortForm, **extra: Any) -> Response:
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "form": form,
        "domains": DOMAINS,
        "occurrences": OCCURRENCES,
        "slots": SLOTS,
        "hits": [],
        "q": "",
        "error": "",
        "result": None,
        "cohort_id": "",
        **extra,
    }
    return state(request).templates.TemplateResponse(request, "cohort_builder.html", context)


def _owned(session: Session, user: User, cohort_id: int) -> SavedCohort:
    saved = session.get(SavedCohort, cohort_id)
    if saved is None or saved.owner_id != user.id:  # another user's cohort reads as absent
        raise NotFoundError(f"no saved cohort {cohort_id}")
    return saved


@router.get("/cohorts", response_class=HTMLResponse)
def cohort_list(request: Request, session: DbSession, web: PortalSession, user: Builder, lang: Lang) -> Response:
    """The user's saved cohorts."""
    rows = session.execute(
        select(SavedCohort).where(SavedCohort.owner_id == user.id).order_by(SavedCohort.updated_at.desc())
    ).scalars()
    return state(request).templates.TemplateResponse(
        request, "cohorts.html", {"lang": lang, "user": user, "csrf": web.csrf_token, "cohorts": list(rows)}
    )


@router.get("/cohorts/new", response_class=HTMLResponse)
def new_cohort(request: Request, web: PortalSession, user: Builder, lang: Lang) -> Response:
    """An empty builder."""
    return _render(request, web, user, lang, CohortForm())


@router.get("/cohorts/{cohort_id}", response_class=HTMLResponse)
def saved_cohort(
    cohort_id: ApplicationId, request: Request, session: DbSession, web: PortalSession, user: Builder, lang: Lang
) -> Response:
    """The builder with a saved cohort."""
    saved = _owned(session, user, cohort_id)
    form = form_from_definition(CohortDefinition.model_validate(saved.definition))
    return _render(request, web, user, lang, form, cohort_id=str(saved.id))


@router.post("/cohorts/import", response_class=HTMLResponse, dependencies=[Csrf])
async def import_cohort(request: Request, web: PortalSession, user: Builder, lang: Lang) -> Response:
    """An ATLAS (Circe) cohort expression, or dari cohort JSON, into the builder."""
    text = str((await request.form()).get("cohort_text", ""))
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return _render(request, web, user, lang, CohortForm(), error=f"cohort_text: not valid JSON ({exc.msg})")
    try:
        if isinstance(raw, dict) and "PrimaryCriteria" in raw:
            definition = import_circe(raw, name=str(raw.get("Title") or "ATLAS cohort"))
        else:
            definition = CohortDefinition.model_validate(raw) if isinstance(raw, dict) else import_circe(raw)
    except (InputError, ValueError) as exc:
        return _render(request, web, user, lang, CohortForm(), error=str(exc)[:500])
    return _render(request, web, user, lang, form_from_definition(definition))


def _search(request: Request, session: Session, q: str) -> list[dict[str, str]]:
    hits = state(request).search.index(session).search(q, kind="concept", limit=12)
    return [
        {
            "code": f"{h.document.extra['vocabulary_id']} {h.document.extra['concept_code']}",
            "name": h.document.title,
            "domain": h.document.extra.get("domain_id", ""),
        }
        for h in hits
    ]


def _add(form: CohortForm, action: str) -> CohortForm:
    """`add:SLOT:VOCABULARY CODE|NAME` appends the concept (with descendants) to a slot's lines."""
    _, slot, concept = action.split(":", 2)
    code, _, name = concept.partition("|")
    line = f"{code.strip()} +  # {name.strip()[:80]}" if name else f"{code.strip()} +"
    if slot == "index_codes":
        form.index_codes = (form.index_codes + "\n" + line).strip()
    elif slot in SLOTS:
        rule = form.rules[int(slot.removeprefix("rule").removesuffix("_codes"))]
        rule.codes = (rule.codes + "\n" + line).strip()
    else:
        raise InputError(f"action: no concept slot {slot[:20]!r}")
    return form


def _run(request: Request, user: User, definition: CohortDefinition, months: tuple[int | None, int]) -> dict[str, Any]:
    """Feasibility and forecast at every connected site, each site through its guard."""
    portal = state(request)
    connector = SiteConnector(portal.settings, portal.factory)
    started = time.monotonic()
    run, forecasts = connector.count(user.username, definition, lookback_months=months[0], horizon_months=months[1])
    seconds = time.monotonic() - started
    with portal.factory() as session, session.begin():
        audit.record(
            session,
            actor=user.username,
            action="feasibility.run",
            target=definition.digest()[:16],
            detail={"covered": list(run.covered), "refused": list(run.refused), "job": run.job_id},
        )
    cohort_json = json.dumps(definition.model_dump(mode="json"), ensure_ascii=False)
    return {
        "run": run,
        "forecasts": forecasts,
        "seconds": seconds,
        "cohort_json": cohort_json,
        "variables_json": json.dumps(apply_variables(definition), ensure_ascii=False),
        "horizon": months[1],
    }


def _months(fields: dict[str, Any]) -> tuple[int | None, int]:
    """The forecast's lookback (blank: each site's whole history) and horizon, in months."""
    raw = str(fields.get("lookback_months") or "").strip()
    try:
        lookback, horizon = (int(raw) if raw else None), int(fields.get("horizon_months") or 12)
    except ValueError:
        raise InputError("lookback_months / horizon_months: whole numbers of months") from None
    if not ((lookback is None or 6 <= lookback <= 240) and 1 <= horizon <= 60):
        raise InputError("lookback_months must be blank (whole history) or 6-240, and horizon_months 1-60")
    return lookback, horizon


def _download(definition: CohortDefinition, atlas: bool) -> Response:
    doc = export_circe(definition) if atlas else definition.model_dump(mode="json")
    suffix = f".{'atlas' if atlas else 'dari'}.json"
    stem = "".join(ch if ch.isalnum() else "-" for ch in definition.name)[:60] or "cohort"
    plain = "".join(ch if ch.isascii() else "_" for ch in stem)  # headers are latin-1: a Korean name goes in filename*
    disposition = f"attachment; filename=\"{plain}{suffix}\"; filename*=UTF-8''{quote(stem + suffix)}"
    return Response(
        json.dumps(doc, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": disposition},
    )


@router.post("/cohorts/builder", response_class=HTMLResponse, dependencies=[Csrf])
async def builder_action(
    request: Request, session: DbSession, web: PortalSession, user: Builder, lang: Lang
) -> Response:
    """Every builder action; a bad field re-renders the builder with the error, the user's input kept."""
    fields = _fields(await request.form())
    form, action = form_from_fields(fields), str(fields.get("action", ""))
    q, cohort_id = str(fields.get("q", ""))[:200], str(fields.get("cohort_id", ""))
    keep = {"q": q, "cohort_id": cohort_id, "lookback": fields.get("lookback_months", "")}
    keep["horizon"] = fields.get("horizon_months", "12")
    try:
        if action == "search":
            hits = await run_in_threadpool(_search, request, session, q) if q.strip() else []
            return _render(request, web, user, lang, form, hits=hits, **keep)
        if action.startswith("add:"):
            return _render(request, web, user, lang, _add(form, action), **keep)
        definition = definition_from_form(form)
        if action == "run":
            # SQLite: the request's session holds the store's write lock (BEGIN IMMEDIATE) from the login check on;
            # the sites' tickets and grant checks write the audit from their own sessions, so end this one first.
            session.commit()
            result = await run_in_threadpool(_run, request, user, definition, _months(fields))
            return _render(request, web, user, lang, form, result=result, **keep)
        if action in ("atlas", "json"):
            return _download(definition, action == "atlas")
        if action == "save":
            return _save(session, user, definition, cohort_id)
    except InputError as exc:
        return _render(request, web, user, lang, form, error=str(exc)[:500], **keep)
    raise InputError(f"action: unknown builder action {action[:20]!r}")


def _save(session: Session, user: User, definition: CohortDefinition, cohort_id: str) -> Response:
    with unit_of_work(session):
        doc = definition.model_dump(mode="json")
        if cohort_id.isdigit():
            saved = _owned(session, user, int(cohort_id))
            saved.name, saved.definition, saved.updated_at = definition.name[:200], doc, utcnow()
        else:
            saved = SavedCohort(owner_id=user.id, name=definition.name[:200], definition=doc)
            session.add(saved)
        session.flush()
        audit.record(session, actor=user.username, action="cohort.save", target=f"cohort:{saved.id}")
    return RedirectResponse(f"/cohorts/{saved.id}", status_code=303)
