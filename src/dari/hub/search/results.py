"""What a search returns: ranked hits with their layer, band and highlighted snippets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from dari.hub.search.documents import SearchDocument
from dari.hub.search.expansion import QueryUnit
from dari.hub.search.highlight import Snippet

Layer = Literal["lexical", "semantic", "both"]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked result: the document, where it came from, and its highlighted fields.

    `score` is the fused reciprocal-rank score; `band` 2/1/0 = every query word as typed / part or via
    expansion / semantic only (see `dari.hub.search.fusion`). `layer` says which rankings hold the document:
    the lexical one, the semantic one (cosine ≥ the threshold, within the top candidates) or both; the cosine
    `semantic_similarity` is given for every hit. `expanded` names the query units this document matched only
    through the terminology (e.g. '당뇨' for a document saying 'diabetes mellitus').
    """

    rank: int
    document: SearchDocument
    score: float
    band: int
    layer: Layer
    lexical_score: float | None
    lexical_rank: int | None
    semantic_similarity: float
    semantic_rank: int | None
    expanded: tuple[str, ...]
    snippets: tuple[Snippet, ...]


@dataclass(frozen=True)
class SearchResults:
    """Ranked hits of one query and how the query was read (its units and their expansions; `corrected`: the
    query as searched when a word was a typo of an indexed term, else None)."""

    query: str
    units: tuple[QueryUnit, ...]
    hits: tuple[SearchHit, ...]
    elapsed_ms: float
    corrected: str | None = None

    def __iter__(self) -> Iterator[SearchHit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, i: int) -> SearchHit:
        return self.hits[i]

    @property
    def ids(self) -> list[str]:
        """Document ids in rank order."""
        return [h.document.id for h in self.hits]
