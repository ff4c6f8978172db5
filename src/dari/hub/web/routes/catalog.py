"""Catalog pages: bilingual search with highlighted matches, dataset pages with characterisation charts, concept
pages (the datasets holding a concept, with their protected counts) and a side-by-side comparison of datasets."""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from dari.hub.catalog import get_dataset, hospital_name, hospital_names, list_datasets
from dari.hub.db.models import Dataset, User
from dari.hub.governance.errors import NotFoundError
from dari.hub.governance.roles import Permission
from dari.hub.search.highlight import render_html
from dari.hub.search.holdings import HeldConcept, held_concepts, holds
from dari.hub.search.places import region_for
from dari.hub.web.deps import DbSession, Lang, PortalSession, requires, state
from dari.hub.web.i18n import translate
from dari.vocab import shipped_vocabulary

router = APIRouter(include_in_schema=False)
Searcher = Annotated[User, Depends(requires(Permission.SEARCH_CATALOG))]


_FIELD_LABELS = {
    "title_ko": "field_title",
    "title_en": "field_title",
    "keywords": "field_keywords",
    "concepts": "field_concepts",
    "place": "field_place",
    "text_ko": "field_text",
    "text_en": "field_text",
}


def holdings(session: DbSession) -> list[tuple[Dataset, list[HeldConcept]]]:
    """Every published dataset with the concepts its characterisation lists."""
    vocabulary = shipped_vocabulary()
    return [(d, held_concepts(d.characterisation, vocabulary)) for d in list_datasets(session)]


def search_hits(
    request: Request, session: DbSession, q: str, kind: str | None, lang: str, limit: int = 20
) -> tuple[list[dict[str, Any]], str | None]:
    """Ranked hits as template rows (highlighting escapes everything but the <mark> tags), and the query as
    searched when a typo was corrected. Where a hit matched is said in words, never as a layer name."""
    index = state(request).search.index(session)
    results = index.search(q, kind=kind, limit=limit)
    vocabulary = shipped_vocabulary()
    held = holdings(session) if any(h.document.kind == "concept" for h in results) else []
    rows = []
    for hit in results:
        doc = hit.document
        marked = {snip.field: render_html(snip) for snip in hit.snippets}
        titles = [marked.get(f) or html.escape(getattr(doc, f)) for f in ("title_ko", "title_en") if getattr(doc, f)]
        text = next((marked[f] for f in ("concepts", "place", "text_ko", "text_en", "keywords") if f in marked), "")
        matched_keys = dict.fromkeys(
            _FIELD_LABELS[s.field] for s in hit.snippets if s.spans and s.field in _FIELD_LABELS
        )
        row: dict[str, Any] = {
            "id": doc.id,
            "kind": doc.kind,
            "score": hit.score,
            "matched": [translate(k, lang) for k in matched_keys],
            "similar_only": hit.lexical_rank is None,
            "expanded": hit.expanded,
            "title_html": " · ".join(titles),
            "snippet_html": text,
        }
        if doc.kind == "dataset":
            row["link"] = f"/datasets/{doc.extra.get('identifier', doc.id.removeprefix('dataset:'))}"
            row["hospital"] = doc.extra.get("hospital_en" if lang == "en" else "hospital_ko", "")
            row["region"] = doc.extra.get("region_en" if lang == "en" else "region_ko", "")
        else:
            cid = int(doc.extra.get("concept_id", "0"))
            row["link"] = f"/concepts/{cid}"
            found = [(d, holds(h, vocabulary, cid)) for d, h in held]
            # The count is the held concept's own; a concept below the hit's is named, so 1,630 persons with
            # type 2 diabetes never read as 1,630 with any diabetes.
            row["holding"] = [
                {
                    "hospital": hospital_name(d, lang),
                    "held": [
                        (
                            "" if h.concept_id == cid else (h.name_en if lang == "en" else h.name_ko or h.name_en),
                            h.shown,
                        )
                        for h in hs
                    ],
                    "link": f"/datasets/{d.id}",
                }
                for d, hs in found
                if hs
            ]
        rows.append(row)
    return rows, results.corrected


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
    # Without a kind, datasets and concepts are searched apart and shown in two groups, datasets first: in one
    # ranking the concept documents (short, named exactly as typed) would push every dataset below them.
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    corrected = None
    if q.strip():
        for wanted, limit in ((kind, 20),) if kind else (("dataset", 20), ("concept", 10)):
            found, corrected = search_hits(request, session, q, wanted, lang, limit)
            groups.append(("datasets" if wanted == "dataset" else "concepts", found))
    datasets = list_datasets(session)
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "q": q,
        "kind": kind,
        "groups": groups,
        "hits": [h for _, found in groups for h in found],
        "corrected": corrected,
        "datasets": [_summary(d, lang) for d in datasets],
    }
    template = "_results.html" if request.headers.get("hx-request") else "catalog.html"
    return state(request).templates.TemplateResponse(request, template, context)


def _summary(d: Dataset, lang: str) -> dict[str, Any]:
    """A dataset's row in the catalog list and the comparison (the hospital named by the one function)."""
    names = hospital_names(d)
    region = region_for((d.record or {}).get("region"), names.values())
    return {
        "id": d.id,
        "title": (d.title_en if lang == "en" else d.title_ko) or d.title_ko or d.title_en,
        "hospital": hospital_name(d, lang),
        "region": (region.name_en if lang == "en" else region.name_ko) if region else "",
        "persons": d.record.get("number_of_unique_individuals", ""),
        "quality": d.quality_score,
    }


@router.get("/concepts/{concept_id}", response_class=HTMLResponse)
def concept_page(
    concept_id: int, request: Request, session: DbSession, web: PortalSession, user: Searcher, lang: Lang
) -> Response:
    """A clinical concept: its names and codes, and the datasets holding it (or a concept below it) with their
    protected person counts as published."""
    vocabulary = shipped_vocabulary()
    try:
        concept = vocabulary.concept(concept_id)
    except KeyError:
        raise NotFoundError(f"unknown concept {concept_id}") from None
    rows: list[dict[str, Any]] = []
    for d, held in holdings(session):
        for h in holds(held, vocabulary, concept_id):
            rows.append(
                {
                    "dataset": _summary(d, lang),
                    "held_as": (h.name_en if lang == "en" else h.name_ko or h.name_en),
                    "domain": h.domain,
                    "shown": h.shown,
                }
            )
    synonyms = [s.synonym for s in vocabulary.synonyms if s.concept_id == concept_id]
    ids = list(dict.fromkeys(r["dataset"]["id"] for r in rows))
    return state(request).templates.TemplateResponse(
        request,
        "concept.html",
        {
            "lang": lang,
            "user": user,
            "csrf": web.csrf_token,
            "c": concept,
            "synonyms": synonyms,
            "rows": rows,
            "compare_ids": ids[:4],
        },
    )


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    session: DbSession,
    web: PortalSession,
    user: Searcher,
    lang: Lang,
    ids: Annotated[list[str], Query(max_length=128)] = [],  # noqa: B006 - FastAPI reads the default, never mutates it
) -> Response:
    """Two to four datasets side by side: persons, coverage, quality, coding systems, top concepts, age/sex."""
    wanted = list(dict.fromkeys(ids))
    error = None
    chosen: list[Dataset] = []
    if not 2 <= len(wanted) <= 4:
        error = "compare_count_error" if wanted else None
    else:
        chosen = [get_dataset(session, i) for i in wanted]
    columns = [_compare_column(d, lang) for d in chosen]
    bands = sorted({b for c in columns for b in c["age_sex"]}, key=_band_key)
    context = {
        "lang": lang,
        "user": user,
        "csrf": web.csrf_token,
        "columns": columns,
        "bands": bands,
        "error": error,
        "datasets": [_summary(d, lang) for d in list_datasets(session)],
        "picked": wanted,
    }
    status = 400 if error else 200
    return state(request).templates.TemplateResponse(request, "compare.html", context, status_code=status)


def _band_key(band: str) -> int:
    return int(band.split("-")[0].rstrip("+")) if band[:1].isdigit() else 999


def _compare_column(d: Dataset, lang: str) -> dict[str, Any]:
    r = d.record
    cells: dict[str, dict[str, str]] = {}
    for c in (d.characterisation or {}).get("age_sex", []):
        cells.setdefault(str(c["age_band"]), {})[str(c["sex"])] = str(c["persons"]["shown"])
    top = {
        domain: [{"name": h.name_en if lang == "en" else h.name_ko or h.name_en, "shown": h.shown} for h in hs[:5]]
        for domain, hs in _by_domain(held_concepts(d.characterisation, shipped_vocabulary())).items()
    }
    return {
        **_summary(d, lang),
        "coverage": f"{r.get('temporal_start') or '—'} – {r.get('temporal_end') or '—'}",
        "ages": (
            f"{r.get('min_typical_age')}–{r.get('max_typical_age')}" if r.get("min_typical_age") is not None else "—"
        ),
        "coding": ", ".join(r.get("coding_systems", [])) + f" · OMOP CDM {r.get('cdm_version', '')}",
        "top": top,
        "age_sex": cells,
    }


def _by_domain(held: list[HeldConcept]) -> dict[str, list[HeldConcept]]:
    out: dict[str, list[HeldConcept]] = {}
    for h in held:
        out.setdefault(h.domain, []).append(h)
    return out


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(
    dataset_id: str, request: Request, session: DbSession, web: PortalSession, user: Searcher, lang: Lang
) -> Response:
    """A dataset's record and its disclosure-controlled characterisation as bar charts."""
    dataset = get_dataset(session, dataset_id)
    return state(request).templates.TemplateResponse(
        request,
        "dataset.html",
        {
            "lang": lang,
            "user": user,
            "csrf": web.csrf_token,
            "d": dataset,
            "s": _summary(dataset, lang),
            "chart": _chart(dataset.characterisation, lang),
        },
    )


def _chart(characterisation: dict[str, Any] | None, lang: str) -> dict[str, Any]:
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
    korean = {h.concept_id: h.name_ko for h in held_concepts(characterisation, shipped_vocabulary())}
    for domain, concepts in characterisation.get("top", {}).items():
        peak = max([c["persons"]["value"] or 0 for c in concepts] + [1])
        top[domain] = [
            {
                "label": (korean.get(c.get("concept_id", 0)) if lang != "en" else None) or c["name"],
                "concept_id": c.get("concept_id"),
                "shown": c["persons"]["shown"],
                "width": round(100 * (c["persons"]["value"] or 0) / peak),
            }
            for c in concepts
        ]
    return {"age_sex": age_sex, "top": top}
