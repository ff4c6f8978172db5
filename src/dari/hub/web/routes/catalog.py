"""Catalog pages: bilingual search with highlighted matches, dataset pages with characterisation charts."""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from dari.hub.catalog import get_dataset, list_datasets
from dari.hub.db.models import User
from dari.hub.governance.roles import Permission
from dari.hub.search.highlight import render_html
from dari.hub.web.deps import DbSession, Lang, PortalSession, requires, state

router = APIRouter(include_in_schema=False)
Searcher = Annotated[User, Depends(requires(Permission.SEARCH_CATALOG))]


def search_hits(
    request: Request, session: DbSession, q: str, kind: str | None, limit: int = 20
) -> list[dict[str, Any]]:
    """Ranked hits as template rows (highlighting escapes everything but the <mark> tags)."""
    index = state(request).search.index(session)
    results = index.search(q, kind=kind, limit=limit)
    rows = []
    for hit in results:
        doc = hit.document
        marked = {snip.field: render_html(snip) for snip in hit.snippets}
        titles = [marked.get(f) or html.escape(getattr(doc, f)) for f in ("title_ko", "title_en") if getattr(doc, f)]
        text = next((marked[f] for f in ("text_ko", "text_en", "keywords") if f in marked), "")
        rows.append(
            {
                "id": doc.id,
                "kind": doc.kind,
                "score": hit.score,
                "layer": hit.layer,
                "expanded": hit.expanded,
                "title_html": " · ".join(titles),
                "snippet_html": text,
                "link": f"/datasets/{doc.id.removeprefix('dataset:')}" if doc.kind == "dataset" else None,
            }
        )
    return rows


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(
    request: Request,
    session: DbSession,
    web: PortalSession,
    user: Searcher,
    lang: Lang,
    q: Annotated[str, Query(max_length=500)] = "",
    kind: Annotated[str, Query(pattern="^(dataset|concept)?$")] = "",
) -> Response:
    """The catalog: every dataset, or the ranked results of a search (htmx swaps only the results)."""
    hits = search_hits(request, session, q, kind or None) if q.strip() else []
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "q": q,
        "kind": kind,
        "hits": hits,
        "datasets": list_datasets(session),
    }
    template = "_results.html" if request.headers.get("hx-request") else "catalog.html"
    return state(request).templates.TemplateResponse(request, template, context)


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(
    dataset_id: str, request: Request, session: DbSession, web: PortalSession, user: Searcher, lang: Lang
) -> Response:
    """A dataset's record and its disclosure-controlled characterisation as bar charts."""
    dataset = get_dataset(session, dataset_id)
    return state(request).templates.TemplateResponse(
        request,
        "dataset.html",
        {"lang": lang, "user": user, "csrf": web.csrf_token, "d": dataset, "chart": _chart(dataset.characterisation)},
    )


def _chart(characterisation: dict[str, Any] | None) -> dict[str, Any]:
    """Bars scaled to the largest released count; suppressed cells drawn as '<10' with no bar."""
    if not characterisation:
        return {"age_sex": [], "top": {}}
    cells = characterisation.get("age_sex", [])
    largest = max([c["persons"]["value"] or 0 for c in cells] + [1])
    age_sex = [
        {
            "label": f"{c['age_band']} {c['sex']}",
            "shown": c["persons"]["shown"],
            "width": round(100 * (c["persons"]["value"] or 0) / largest),
        }
        for c in cells
    ]
    top: dict[str, list[dict[str, Any]]] = {}
    for domain, concepts in characterisation.get("top", {}).items():
        peak = max([c["persons"]["value"] or 0 for c in concepts] + [1])
        top[domain] = [
            {
                "label": c["name"],
                "shown": c["persons"]["shown"],
                "width": round(100 * (c["persons"]["value"] or 0) / peak),
            }
            for c in concepts
        ]
    return {"age_sex": age_sex, "top": top}
