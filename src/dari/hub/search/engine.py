"""The search index: build it over documents once, then rank queries with both layers and highlight the hits.

    index = SearchIndex.build([*concept_documents(shipped_vocabulary()), *datasets], embedding_cache=path)
    for hit in index.search("당뇨", kind="dataset", limit=20):
        print(hit.rank, hit.layer, hit.document.title, [render_html(s) for s in hit.snippets])

An index is immutable and safe to share between threads; `with_documents` returns a new index that reuses the
analysis and embeddings of every unchanged document.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dari.errors import InputError
from dari.hub.search import fusion
from dari.hub.search.analysis import analyse, analyse_many
from dari.hub.search.bm25_index import LexicalIndex
from dari.hub.search.documents import DOCUMENT_KINDS, FIELDS, DocumentKind, SearchDocument
from dari.hub.search.expansion import Lexicon, QueryUnit, shipped_lexicon
from dari.hub.search.highlight import Snippet, make_snippet
from dari.hub.search.lexical import LexicalMatch, score_units
from dari.hub.search.occurrences import TermOccurrences
from dari.hub.search.results import Layer, SearchHit, SearchResults
from dari.hub.search.semantic import embed, embed_cached, similarities, text_key
from dari.hub.search.spelling import Speller

MAX_QUERY_CHARS = 500
MAX_LIMIT = 100
# Lexical scoring uses the first this-many distinct query units (a repeated word adds nothing), and the semantic
# layer embeds the first SEMANTIC_QUERY_CHARS characters: this bounds the cost of a 500-character query (a unit
# costs about 0.5 ms over 10,000 documents; embedding 200 characters of Korean about 30 ms).
MAX_QUERY_UNITS = 32
SEMANTIC_QUERY_CHARS = 120
# The semantic layer offers at most this many documents, and only those at least this similar (cosine).
SEMANTIC_CANDIDATES = 100
SEMANTIC_MIN_SIMILARITY = 0.45
# What is embedded of a document: its titles and first keywords, and the start of its description only when it
# has no keywords. USE averages over tokens, so long text drowns the title, and embedding cost grows with length
# (measured: 9.5 ms CPU a document with 200 characters of description, 2.6 ms with titles alone). A catalog
# record's keywords are its top conditions, drugs and measurements; its description is mostly boilerplate.
EMBED_KEYWORDS = 8
# Words of a multi-word alternative are marked only where they stand this close (a space, a hyphen and a space).
PHRASE_GAP = 3
EMBED_TEXT_CHARS = 120


def normalise_query(query: str) -> str:
    """The query NFC-normalised and stripped; InputError when it is not a string, blank, or too long.

    Blank and over-long queries are errors rather than empty results, so the caller (portal, API) can tell the
    user why nothing came back; the portal shows its search page without calling search for an empty box.
    """
    if not isinstance(query, str):
        raise InputError(f"query must be a string, got {type(query).__name__}")
    text = unicodedata.normalize("NFC", query).strip()
    if not text:
        raise InputError("query must not be empty or only whitespace")
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(f"query must be at most {MAX_QUERY_CHARS} characters, got {len(text)}")
    return text


def _content_hash(doc: SearchDocument) -> bytes:
    parts = [doc.kind, *(doc.field_text(f) for f in FIELDS)]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()


def embedding_text(doc: SearchDocument) -> str:
    """The text of a document that the semantic layer embeds (see EMBED_KEYWORDS)."""
    keywords = ", ".join(doc.keywords[:EMBED_KEYWORDS])
    text = "" if keywords else " ".join(t for t in (doc.text_ko, doc.text_en) if t)[:EMBED_TEXT_CHARS]
    return ". ".join(t for t in (doc.title_ko, doc.title_en, keywords, text) if t)


class SearchIndex:
    """Documents, their BM25 index, their embeddings and their term spans; build with `SearchIndex.build`."""

    def __init__(
        self,
        documents: tuple[SearchDocument, ...],
        lexicon: Lexicon,
        occurrences: TermOccurrences,
        embeddings: npt.NDArray[np.float32],
        hashes: list[bytes],
        build_stats: dict[str, float],
    ) -> None:
        self.documents = documents
        self.lexicon = lexicon
        self.build_stats = build_stats
        self._occurrences = occurrences
        self._embeddings = embeddings
        self._hashes = hashes
        self._position = {d.id: i for i, d in enumerate(documents)}
        self._kinds = np.array([DOCUMENT_KINDS.index(d.kind) for d in documents], dtype=np.int8)
        self._lexical = LexicalIndex([occurrences.bm25_terms(i) for i in range(len(documents))])
        self._speller = Speller(occurrences.terms)

    # ---------- building ----------
    @classmethod
    def build(
        cls,
        documents: Iterable[SearchDocument],
        *,
        embedding_cache: Path | None = None,
        lexicon: Lexicon | None = None,
    ) -> SearchIndex:
        """Analyse, index and embed the documents (ids must be unique).

        `embedding_cache`: an .npz file of document embeddings, read if present and rewritten when documents
        changed; `lexicon`: the terminology for expansion (default: the shipped vocabulary and curated table).
        """
        return cls._assemble(list(documents), embedding_cache, lexicon or shipped_lexicon(), previous=None)

    def with_documents(
        self,
        upserts: Iterable[SearchDocument] = (),
        removals: Iterable[str] = (),
        *,
        embedding_cache: Path | None = None,
    ) -> SearchIndex:
        """A new index with documents added or replaced (by id) and ids removed; unchanged documents are not
        analysed or embedded again. Unknown ids in `removals` are an InputError."""
        gone = set(removals)
        unknown = sorted(gone - self._position.keys())
        if unknown:
            raise InputError(f"cannot remove documents that are not in the index: {unknown[:5]}")
        new = {d.id: d for d in upserts}
        kept = [d for d in self.documents if d.id not in gone and d.id not in new]
        return self._assemble([*kept, *new.values()], embedding_cache, self.lexicon, previous=self)

    @classmethod
    def _assemble(
        cls, docs: list[SearchDocument], cache: Path | None, lexicon: Lexicon, previous: SearchIndex | None
    ) -> SearchIndex:
        seen: set[str] = set()
        for d in docs:
            if not isinstance(d, SearchDocument):
                raise InputError(f"documents must be SearchDocument, got {type(d).__name__}")
            if d.id in seen:
                raise InputError(f"duplicate document id {d.id!r}")
            seen.add(d.id)
        t0 = time.perf_counter()
        hashes = [_content_hash(d) for d in docs]
        reuse: dict[int, int] = {}  # new position -> old position
        if previous is not None:
            for i, (d, h) in enumerate(zip(docs, hashes, strict=True)):
                old = previous._position.get(d.id)
                if old is not None and previous._hashes[old] == h:
                    reuse[i] = old
        fresh = [i for i in range(len(docs)) if i not in reuse]
        analysed = analyse_many((docs[i].field_text(f) for i in fresh for f in FIELDS), prefixes=True)
        per_doc = {i: analysed[k * len(FIELDS) : (k + 1) * len(FIELDS)] for k, i in enumerate(fresh)}
        occurrences = TermOccurrences.collect(len(docs), per_doc, reuse, previous._occurrences if previous else None)
        t1 = time.perf_counter()
        texts = [embedding_text(d) for d in docs]
        known = None
        if previous is not None:
            known = {text_key(embedding_text(d)): previous._embeddings[i] for i, d in enumerate(previous.documents)}
        vectors, embedded = embed_cached(texts, cache, known)
        t2 = time.perf_counter()
        stats = {
            "documents": float(len(docs)),
            "analysed": float(len(fresh)),
            "embedded": float(embedded),
            "analyse_s": t1 - t0,
            "embed_s": t2 - t1,
        }
        index = cls(tuple(docs), lexicon, occurrences, vectors, hashes, stats)
        stats["bm25_s"] = time.perf_counter() - t2
        return index

    # ---------- queries ----------
    def __len__(self) -> int:
        return len(self.documents)

    def _units(self, text: str) -> tuple[QueryUnit, ...]:
        distinct: dict[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]], QueryUnit] = {}
        for unit in self.lexicon.units(text, analyse(text)):
            distinct.setdefault((unit.terms, unit.alternatives), unit)
        return tuple(distinct.values())[:MAX_QUERY_UNITS]

    def search(self, query: str, kind: DocumentKind | None = None, limit: int = 20) -> SearchResults:
        """Ranked hits for the query; `kind` keeps only datasets or concepts; at most `limit` (1..100) hits.

        InputError for a blank query, one over MAX_QUERY_CHARS characters, an unknown kind or a bad limit.
        """
        t0 = time.perf_counter()
        text = normalise_query(query)
        if kind is not None and kind not in DOCUMENT_KINDS:
            raise InputError(f"kind must be one of {DOCUMENT_KINDS} or None, got {kind!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InputError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
        corrected = self._speller.correct(text, self.lexicon.knows)
        units = self._units(corrected)
        fixed = corrected if corrected != text else None
        n = len(self.documents)
        if n == 0:
            return SearchResults(text, units, (), (time.perf_counter() - t0) * 1000, fixed)
        allowed = np.ones(n, dtype=bool) if kind is None else self._kinds == DOCUMENT_KINDS.index(kind)

        match = score_units(self._lexical, units)
        lexical = np.where(allowed, match.score, 0.0).astype(np.float64)
        lex_docs = np.flatnonzero(lexical > 0)
        lex_order = lex_docs[np.lexsort((lex_docs, -lexical[lex_docs]))]

        similarity = similarities(self._embeddings, embed([corrected[:SEMANTIC_QUERY_CHARS]])[0])
        similarity = np.where(allowed, similarity, -np.inf)
        top = min(SEMANTIC_CANDIDATES, n)
        sem_docs = np.argpartition(-similarity, top - 1)[:top]
        sem_docs = sem_docs[similarity[sem_docs] >= SEMANTIC_MIN_SIMILARITY]
        sem_order = sem_docs[np.lexsort((sem_docs, -similarity[sem_docs]))]

        lex_rank = fusion.ranks(lex_order, n)
        sem_rank = fusion.ranks(sem_order, n)
        fused = fusion.rrf(lex_rank, sem_rank)
        band = np.where(match.full & (lexical > 0), 2, np.where(lexical > 0, 1, 0)).astype(np.int8)
        candidates = np.flatnonzero((lex_rank > 0) | (sem_rank > 0)).astype(np.int64)
        order = fusion.fused_order(candidates, band, fused, lexical)[:limit]
        hits = tuple(
            self._hit(r, int(d), units, match, band, fused, lexical, lex_rank, similarity, sem_rank)
            for r, d in enumerate(order, start=1)
        )
        return SearchResults(text, units, hits, (time.perf_counter() - t0) * 1000, fixed)

    def _hit(
        self,
        rank: int,
        doc: int,
        units: Sequence[QueryUnit],
        match: LexicalMatch,
        band: npt.NDArray[np.int8],
        fused: npt.NDArray[np.float64],
        lexical: npt.NDArray[np.float64],
        lex_rank: npt.NDArray[np.int64],
        similarity: npt.NDArray[np.float32],
        sem_rank: npt.NDArray[np.int64],
    ) -> SearchHit:
        in_lex, in_sem = bool(lex_rank[doc] > 0), bool(sem_rank[doc] > 0)
        layer: Layer = "both" if in_lex and in_sem else "lexical" if in_lex else "semantic"
        expanded = tuple(u.text for u, flags in zip(units, match.unit_expanded, strict=True) if flags[doc])
        return SearchHit(
            rank=rank,
            document=self.documents[doc],
            score=float(fused[doc]),
            band=int(band[doc]),
            layer=layer,
            lexical_score=float(lexical[doc]) if in_lex else None,
            lexical_rank=int(lex_rank[doc]) if in_lex else None,
            semantic_similarity=float(similarity[doc]),
            semantic_rank=int(sem_rank[doc]) if in_sem else None,
            expanded=expanded,
            snippets=self._snippets(doc, *(match.highlight_forms(units, doc) if in_lex else (set(), []))),
        )

    def _snippets(self, doc: int, terms: set[str], phrases: Sequence[tuple[str, ...]] = ()) -> tuple[Snippet, ...]:
        """Snippets of the fields where one of the terms, or one of the phrases (its words together), occurs;
        a hit without one shows its title unmarked."""
        document = self.documents[doc]
        found = self._occurrences.spans_of(doc, terms)
        if phrases:
            by_term = self._occurrences.spans_by_term(doc, {t for p in phrases for t in p})
            for phrase in phrases:
                for f, spans in _phrase_spans(by_term, phrase).items():
                    found.setdefault(f, []).extend(spans)
        out = [make_snippet(FIELDS[f], document.field_text(FIELDS[f]), found[f]) for f in sorted(found)]
        if not any(s.field.startswith("title") for s in out):
            title_field = "title_ko" if document.title_ko else "title_en"
            if document.field_text(title_field):
                out.insert(0, make_snippet(title_field, document.field_text(title_field), ()))
        return tuple(out)

    # ---------- size ----------
    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays (BM25 matrix, embeddings, term spans); Python objects not counted."""
        return int(self._lexical.nbytes + self._embeddings.nbytes + self._occurrences.nbytes)


def _phrase_spans(
    by_term: dict[str, dict[int, list[tuple[int, int]]]], phrase: tuple[str, ...]
) -> dict[int, list[tuple[int, int]]]:
    """Spans where the phrase's words follow each other (at most PHRASE_GAP characters apart) in one field."""
    out: dict[int, list[tuple[int, int]]] = {}
    for f, firsts in by_term.get(phrase[0], {}).items():
        for start, end in firsts:
            spans = [(start, end)]
            for term in phrase[1:]:
                after = spans[-1][1]
                nxt = [s for s in by_term.get(term, {}).get(f, []) if after <= s[0] <= after + PHRASE_GAP]
                if not nxt:
                    break
                spans.append(min(nxt))
            if len(spans) == len(phrase):
                out.setdefault(f, []).extend(spans)
    return out
