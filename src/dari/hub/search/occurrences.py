"""Where every indexed term occurs in every document: the source of BM25's term lists and of highlight spans.

Stored flat in numpy arrays (term id, start, end, field per occurrence; document i in rows ptr[i]:ptr[i+1]), about
13 bytes an occurrence, rather than as Python objects (about 100 bytes each).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dari.hub.search.analysis import Word, spans
from dari.hub.search.documents import FIELDS

# Title and keyword terms count this many times in BM25 (a word in the title says more than one in the text).
TITLE_BOOST = 2
_BOOSTED = np.array([TITLE_BOOST if f in ("title_ko", "title_en", "keywords") else 1 for f in FIELDS])


@dataclass(frozen=True)
class TermOccurrences:
    """Term occurrences of a corpus; build with `TermOccurrences.collect`."""

    terms: tuple[str, ...]
    term_ids: Mapping[str, int]
    term: npt.NDArray[np.int32]
    start: npt.NDArray[np.int32]
    end: npt.NDArray[np.int32]
    field: npt.NDArray[np.int8]
    ptr: npt.NDArray[np.int64]

    @classmethod
    def collect(
        cls,
        count: int,
        analysed: Mapping[int, Sequence[Sequence[Word]]],
        reused: Mapping[int, int],
        previous: TermOccurrences | None,
    ) -> TermOccurrences:
        """Occurrences of `count` documents: document i from its analysed fields (one word list per field of
        FIELDS), or, when i is in `reused`, copied from document reused[i] of `previous`."""
        terms: list[str] = []
        ids: dict[str, int] = {}
        rows: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        fields: list[int] = []
        ptr = [0]

        def term_id(t: str) -> int:
            tid = ids.get(t)
            if tid is None:
                tid = ids[t] = len(terms)
                terms.append(t)
            return tid

        for i in range(count):
            if i in reused and previous is not None:
                lo, hi = int(previous.ptr[reused[i]]), int(previous.ptr[reused[i] + 1])
                rows.extend(term_id(previous.terms[t]) for t in previous.term[lo:hi].tolist())
                starts.extend(previous.start[lo:hi].tolist())
                ends.extend(previous.end[lo:hi].tolist())
                fields.extend(previous.field[lo:hi].tolist())
            else:
                for f, words in enumerate(analysed[i]):
                    for span in spans(words):
                        rows.append(term_id(span.term))
                        starts.append(span.start)
                        ends.append(span.end)
                        fields.append(f)
            ptr.append(len(rows))
        return cls(
            terms=tuple(terms),
            term_ids=ids,
            term=np.array(rows, dtype=np.int32),
            start=np.array(starts, dtype=np.int32),
            end=np.array(ends, dtype=np.int32),
            field=np.array(fields, dtype=np.int8),
            ptr=np.array(ptr, dtype=np.int64),
        )

    def bm25_terms(self, doc: int) -> list[str]:
        """The document's terms as BM25 counts them: every occurrence, title and keyword ones TITLE_BOOST times."""
        lo, hi = int(self.ptr[doc]), int(self.ptr[doc + 1])
        repeats = _BOOSTED[self.field[lo:hi]]
        return [
            self.terms[t] for t, r in zip(self.term[lo:hi].tolist(), repeats.tolist(), strict=True) for _ in range(r)
        ]

    def spans_of(self, doc: int, terms: set[str]) -> dict[int, list[tuple[int, int]]]:
        """Spans of the given terms in one document, by field index."""
        marked = np.zeros(len(self.terms), dtype=bool)
        marked[[self.term_ids[t] for t in terms if t in self.term_ids]] = True
        lo, hi = int(self.ptr[doc]), int(self.ptr[doc + 1])
        rows = lo + np.flatnonzero(marked[self.term[lo:hi]])
        found: dict[int, list[tuple[int, int]]] = {}
        for f, s, e in zip(self.field[rows].tolist(), self.start[rows].tolist(), self.end[rows].tolist(), strict=True):
            found.setdefault(f, []).append((s, e))
        return found

    def spans_by_term(self, doc: int, terms: set[str]) -> dict[str, dict[int, list[tuple[int, int]]]]:
        """Spans of each of the given terms in one document, by term then field (one pass over the document)."""
        wanted = {self.term_ids[t]: t for t in terms if t in self.term_ids}
        lo, hi = int(self.ptr[doc]), int(self.ptr[doc + 1])
        rows = lo + np.flatnonzero(np.isin(self.term[lo:hi], list(wanted)))
        out: dict[str, dict[int, list[tuple[int, int]]]] = {}
        for t, f, s, e in zip(
            self.term[rows].tolist(),
            self.field[rows].tolist(),
            self.start[rows].tolist(),
            self.end[rows].tolist(),
            strict=True,
        ):
            out.setdefault(wanted[t], {}).setdefault(f, []).append((s, e))
        return out

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return int(sum(a.nbytes for a in (self.term, self.start, self.end, self.field, self.ptr)))
