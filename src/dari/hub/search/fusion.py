"""Reciprocal-rank fusion of the lexical and semantic rankings, lexical matches kept ahead.

    rrf(d) = LEXICAL_WEIGHT / (RRF_K + rank_lexical(d)) + SEMANTIC_WEIGHT / (RRF_K + rank_semantic(d))

ranks counted from 1, a term left out where d is not in that ranking (Cormack, Clarke & Büttcher 2009,
"Reciprocal rank fusion outperforms Condorcet and individual rank learning methods", SIGIR). RRF_K = 60 is their
constant: it flattens the head of each list so that one ranker alone cannot decide the order. RRF uses ranks
only, so BM25 scores and cosine similarities never need to be put on one scale.

The fused score orders documents within three bands, which come in this order:
  2  the document holds every query word as typed (or as a morphological variant of it);
  1  it matches part of the query, or matches it only through the terminology's expansions;
  0  the semantic layer alone found it (similarity ≥ the semantic threshold).
So lexical matches stay ahead whenever they exist and semantic matches fill in after them, while inside a band
agreement between the two layers (a document near the top of both) lifts a document.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RRF_K = 60
LEXICAL_WEIGHT = 1.0
SEMANTIC_WEIGHT = 0.5

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def ranks(order: IntArray, n: int) -> IntArray:
    """1-based rank of each document given a ranking (document positions, best first); 0 where unranked."""
    out = np.zeros(n, dtype=np.int64)
    out[order] = np.arange(1, len(order) + 1)
    return out


def rrf(lexical_rank: IntArray, semantic_rank: IntArray) -> FloatArray:
    """The weighted reciprocal-rank fusion score of every document (0 for documents in neither ranking)."""
    out = np.zeros(len(lexical_rank), dtype=np.float64)
    has_lex = lexical_rank > 0
    has_sem = semantic_rank > 0
    out[has_lex] += LEXICAL_WEIGHT / (RRF_K + lexical_rank[has_lex])
    out[has_sem] += SEMANTIC_WEIGHT / (RRF_K + semantic_rank[has_sem])
    return out


def fused_order(candidates: IntArray, band: npt.NDArray[np.int8], score: FloatArray, tiebreak: FloatArray) -> IntArray:
    """Candidates sorted by band, then fused score, then `tiebreak` (the lexical score), then position."""
    keys = (candidates, -tiebreak[candidates], -score[candidates], -band[candidates].astype(np.int64))
    return candidates[np.lexsort(keys)]
