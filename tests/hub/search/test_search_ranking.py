"""BM25 against a hand-written reference, the exact-before-expansion guarantee, reciprocal-rank fusion."""

from __future__ import annotations

import math

import numpy as np

from dari.hub.search import SearchDocument, SearchIndex
from dari.hub.search.bm25_index import K1, B, LexicalIndex
from dari.hub.search.fusion import LEXICAL_WEIGHT, RRF_K, SEMANTIC_WEIGHT, fused_order, ranks, rrf


def _reference_bm25(corpus: list[list[str]], term: str) -> list[float]:
    """BM25 of one term as Lucene scores it, written out from the formula (Robertson & Zaragoza 2009): Lucene's idf
    and no (k1 + 1) factor in the numerator (a constant, dropped by Lucene 8; the ranking is the same)."""
    n = len(corpus)
    avgdl = sum(len(d) for d in corpus) / n
    df = sum(term in d for d in corpus)
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    out = []
    for doc in corpus:
        tf = doc.count(term)
        out.append(idf * tf / (tf + K1 * (1 - B + B * len(doc) / avgdl)) if tf else 0.0)
    return out


def test_bm25_column_matches_reference() -> None:
    # Prepare
    corpus = [["당뇨", "환자", "당뇨"], ["diabete", "mellitu"], ["환자", "코호트", "기록", "기록"], ["당뇨"]]
    index = LexicalIndex(corpus)
    # Execute / Assert
    for term in ("당뇨", "환자", "기록", "mellitu"):
        column = index.column(term)
        assert column is not None
        np.testing.assert_allclose(column, _reference_bm25(corpus, term), rtol=1e-5)
    assert index.column("없는말") is None
    assert index.document_frequency("당뇨") == 2


def test_lexical_exact_match_outranks_rarer_expansion_whatever_the_idf() -> None:
    # Prepare: '당뇨' is common and sits in long texts (low BM25); 'diabetes mellitus' is rare and alone (high
    # BM25). Plain weighted BM25 would put the expansion first; the per-unit scale must not.
    filler = " ".join(f"항목{i}" for i in range(40))
    docs = [SearchDocument(id=f"ko-{i}", kind="dataset", text_ko=f"{filler} 당뇨 {filler}") for i in range(30)]
    docs.append(SearchDocument(id="en", kind="dataset", title_en="Diabetes mellitus"))
    index = SearchIndex.build(docs)
    # Execute
    results = index.search("당뇨", limit=100)
    # Assert
    lexical = {h.document.id: h.lexical_score for h in results if h.lexical_score is not None}
    assert set(lexical) == {d.id for d in docs}
    weakest_exact = min(v for k, v in lexical.items() if k != "en")
    assert lexical["en"] < weakest_exact
    assert results.ids[-1] == "en"
    assert results[-1].band == 1 and {h.band for h in results.hits[:-1]} == {2}


def test_lexical_partial_phrase_counts_less_than_the_translated_phrase() -> None:
    # 'kidney failure' is a phrase of the terminology: 'kidney' alone is half a match, '신부전' a whole one
    docs = [
        SearchDocument(id="kidney", kind="dataset", title_en="Kidney donors"),
        SearchDocument(id="ko", kind="dataset", title_ko="신부전 환자"),
    ]
    index = SearchIndex.build(docs)
    hits = {h.document.id: h for h in index.search("kidney failure")}
    assert hits["ko"].lexical_score is not None and hits["kidney"].lexical_score is not None
    assert hits["ko"].lexical_score > hits["kidney"].lexical_score
    assert hits["ko"].expanded == ("kidney failure",)


def test_fusion_rrf_hand_worked() -> None:
    # doc 0: lexical 1st only; doc 1: semantic 1st only; doc 2: 2nd in both; doc 3: in neither
    lexical = np.array([1, 0, 2, 0])
    semantic = np.array([0, 1, 2, 0])
    expected = [
        LEXICAL_WEIGHT / (RRF_K + 1),
        SEMANTIC_WEIGHT / (RRF_K + 1),
        LEXICAL_WEIGHT / (RRF_K + 2) + SEMANTIC_WEIGHT / (RRF_K + 2),
        0.0,
    ]
    np.testing.assert_allclose(rrf(lexical, semantic), expected)
    assert RRF_K == 60


def test_fusion_ranks_are_one_based_and_zero_when_absent() -> None:
    np.testing.assert_array_equal(ranks(np.array([2, 0]), 4), [2, 0, 1, 0])


def test_fusion_band_comes_before_fused_score() -> None:
    candidates = np.array([0, 1, 2])
    band = np.array([0, 1, 2], dtype=np.int8)
    score = np.array([0.9, 0.5, 0.1])  # the semantic-only document has the best fused score …
    order = fused_order(candidates, band, score, np.zeros(3))
    assert order.tolist() == [2, 1, 0]  # … and still comes last
