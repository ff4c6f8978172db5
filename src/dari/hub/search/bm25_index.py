"""The lexical layer: a BM25 index (bm25s) that gives one score vector per term, for weighted query scoring.

bm25s precomputes, for every term, the BM25 contribution of that term to every document that contains it
(a sparse column per term): score(d, t) = idf(t) · tf / (tf + k1·(1 − b + b·|d|/avgdl)), with Lucene's
idf(t) = ln(1 + (N − df + 0.5)/(df + 0.5)) and, as in Lucene 8+, without the constant (k1 + 1) factor
(Robertson & Zaragoza 2009; Lù 2024, bm25s). A query's score is a
sum of such columns; reading them one by one lets the engine weight the terms of a query differently
(typed words, morphological variants, vocabulary expansions).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

K1 = 1.2
B = 0.75

FloatArray = npt.NDArray[np.float32]


class LexicalIndex:
    """BM25 columns of a fixed corpus of term lists (document order = position in the list)."""

    def __init__(self, corpus_terms: Sequence[Sequence[str]]) -> None:
        import bm25s

        self.num_docs = len(corpus_terms)
        self._vocab: dict[str, int] = {}
        self._data: FloatArray = np.zeros(0, dtype=np.float32)
        self._indices = np.zeros(0, dtype=np.int64)
        self._indptr = np.zeros(1, dtype=np.int64)
        if not corpus_terms:
            return
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
        # bm25s needs at least one term per document; an empty document gets the reserved empty term.
        retriever.index([list(t) or [""] for t in corpus_terms], show_progress=False)
        scores = retriever.scores
        self._data = np.asarray(scores["data"], dtype=np.float32)
        self._indices = np.asarray(scores["indices"], dtype=np.int64)
        self._indptr = np.asarray(scores["indptr"], dtype=np.int64)
        self._vocab = {t: i for t, i in retriever.vocab_dict.items() if t}

    def document_frequency(self, term: str) -> int:
        """How many documents contain the term."""
        tid = self._vocab.get(term)
        return 0 if tid is None else int(self._indptr[tid + 1] - self._indptr[tid])

    def column(self, term: str) -> FloatArray | None:
        """The term's BM25 score in every document (zeros where absent); None when no document has it."""
        tid = self._vocab.get(term)
        if tid is None:
            return None
        lo, hi = self._indptr[tid], self._indptr[tid + 1]
        out = np.zeros(self.num_docs, dtype=np.float32)
        out[self._indices[lo:hi]] = self._data[lo:hi]
        return out

    @property
    def nbytes(self) -> int:
        """Memory held by the sparse score matrix."""
        return int(self._data.nbytes + self._indices.nbytes + self._indptr.nbytes)
