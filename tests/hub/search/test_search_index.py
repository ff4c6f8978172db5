"""Documents, highlighting, index building: validation, incremental updates, the embedding cache."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pytest

from dari.catalog.dataset import DatasetRecord
from dari.errors import InputError
from dari.hub.search import SearchDocument, SearchIndex, concept_documents, dataset_document, render_html
from dari.hub.search.highlight import Snippet, make_snippet, merge_spans
from dari.hub.search.semantic import _read_cache, _write_cache
from dari.vocab import shipped_vocabulary

_DOCS = [
    SearchDocument(id="a", kind="dataset", title_ko="당뇨 코호트"),
    SearchDocument(id="b", kind="dataset", title_en="Asthma registry"),
    SearchDocument(id="c", kind="concept", title_en="Hypertensive disorder", title_ko="고혈압성 질환"),
]


@pytest.fixture(scope="module")
def small_index() -> SearchIndex:
    return SearchIndex.build(_DOCS)


# ---------- documents ----------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": " ", "kind": "dataset", "title_en": "x"}, "id must be a non-empty"),
        ({"id": "x", "kind": "study", "title_en": "x"}, "kind must be one of"),
        ({"id": "x", "kind": "dataset"}, "no title, text or keyword"),
        ({"id": "x", "kind": "dataset", "text_en": "a" * 20_001}, "at most 20,000"),
    ],
)
def test_document_rejects_bad_fields(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        SearchDocument(**kwargs)  # type: ignore[arg-type]


def test_document_text_is_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "당뇨")
    doc = SearchDocument(id="x", kind="dataset", title_ko=decomposed, keywords=(decomposed, "당뇨", " "))
    assert doc.title_ko == "당뇨"
    assert doc.keywords == ("당뇨",)


def test_concept_documents_carry_synonyms_codes_and_parents() -> None:
    docs = {d.id: d for d in concept_documents(shipped_vocabulary())}
    ckd = docs["concept:2000100017"]
    assert (ckd.title_ko, ckd.title_en) == ("만성 신장병", "Chronic kidney disease")
    assert {"CKD", "만성 콩팥병", "KCD8 N18"} <= set(ckd.keywords)
    assert "Kidney disease" in ckd.text_en and "신장 질환" in ckd.text_ko
    assert not any(d.extra["domain_id"] == "Unit" for d in docs.values())
    assert len(docs) > 100


def test_dataset_document_from_catalog_record() -> None:
    record = DatasetRecord(
        identifier="snuh-2024",
        title={"ko": "서울대병원 OMOP CDM", "en": "SNUH OMOP CDM"},
        description={"ko": "가명처리된 진료 기록", "en": "Pseudonymised records"},
        publisher={"ko": "서울대학교병원", "en": "Seoul National University Hospital"},
        contact_point="steward@example.org",
        themes=["HEAL"],
        keywords={"en": ["Type 2 diabetes mellitus"], "ko": ["2형 당뇨병"]},
        temporal_start=None,
        temporal_end=None,
        number_of_records="1,000",
        number_of_unique_individuals="100",
        min_typical_age=None,
        max_typical_age=None,
        coding_systems=["KCD8"],
        cdm_version="v5.4",
        access_rights="restricted",
        quality_score=None,
    )
    doc = dataset_document(record)
    assert doc.id == "dataset:snuh-2024" and doc.kind == "dataset"
    assert doc.keywords == ("2형 당뇨병", "Type 2 diabetes mellitus")
    assert doc.extra["publisher_en"] == "Seoul National University Hospital"


# ---------- highlighting ----------
def test_highlight_merge_spans_joins_overlaps() -> None:
    assert merge_spans([(5, 7), (0, 3), (1, 3), (3, 4), (9, 9)]) == ((0, 4), (5, 7))


def test_highlight_render_escapes_everything_but_marks() -> None:
    snippet = Snippet("text_en", '<b>"CKD" & <script>', ((4, 7),))
    assert render_html(snippet) == "&lt;b&gt;&quot;<mark>CKD</mark>&quot; &amp; &lt;script&gt;"


def test_highlight_long_field_is_cut_around_the_first_match() -> None:
    text = "가" * 300 + " 당뇨 " + "나" * 300
    snippet = make_snippet("text_ko", text, [(301, 303)])
    assert snippet.cut_start and snippet.cut_end
    assert len(snippet.text) <= 200
    ((start, end),) = snippet.spans
    assert snippet.text[start:end] == "당뇨"
    html = render_html(snippet)
    assert html.startswith("…") and html.endswith("…") and "<mark>당뇨</mark>" in html


# ---------- building ----------
def test_index_rejects_duplicate_ids() -> None:
    with pytest.raises(InputError, match="duplicate document id 'a'"):
        SearchIndex.build([_DOCS[0], _DOCS[0]])


def test_index_empty_builds_and_finds_nothing() -> None:
    index = SearchIndex.build([])
    assert len(index) == 0 and len(index.search("당뇨")) == 0


def test_index_with_documents_reuses_unchanged_ones(small_index: SearchIndex) -> None:
    # Prepare
    added = SearchDocument(id="d", kind="dataset", title_en="Chronic kidney disease cohort")
    changed = SearchDocument(id="b", kind="dataset", title_en="Asthma and COPD registry")
    # Execute
    updated = small_index.with_documents([added, changed], removals=["a"])
    # Assert
    assert {d.id for d in updated.documents} == {"b", "c", "d"}
    assert updated.build_stats["analysed"] == 2 and updated.build_stats["embedded"] == 2
    assert updated.search("CKD").ids[0] == "d"
    assert "a" not in updated.search("당뇨").ids
    assert small_index.search("당뇨").ids[0] == "a"  # the old index is unchanged
    # highlights of a reused document still line up ('고혈압성 질환' is also a whole form of the query's concept)
    hit = updated.search("고혈압").hits[0]
    assert hit.document.id == "c"
    assert render_html(hit.snippets[0]) == "<mark>고혈압성</mark> <mark>질환</mark>"


def test_index_with_documents_refuses_unknown_removal(small_index: SearchIndex) -> None:
    with pytest.raises(InputError, match="not in the index"):
        small_index.with_documents(removals=["zzz"])


def test_index_embedding_cache_is_reused(tmp_path: Path) -> None:
    cache = tmp_path / "embeddings.npz"
    first = SearchIndex.build(_DOCS, embedding_cache=cache)
    second = SearchIndex.build(_DOCS, embedding_cache=cache)
    assert first.build_stats["embedded"] == 3 and second.build_stats["embedded"] == 0
    assert cache.exists()
    assert first.search("asthma").ids == second.search("asthma").ids


def test_embedding_cache_keeps_keys_ending_in_nul(tmp_path: Path) -> None:
    # one blake2b key in 256 ends in a NUL byte; a fixed-width bytes array would silently drop it
    cache = tmp_path / "embeddings.npz"
    entries = {b"\x01" * 15 + b"\x00": np.ones(512, dtype=np.float32), b"\x00" * 16: np.zeros(512, dtype=np.float32)}
    _write_cache(cache, entries)
    assert set(_read_cache(cache)) == set(entries)


def test_index_embedding_cache_of_another_kind_is_an_input_error(tmp_path: Path) -> None:
    cache = tmp_path / "embeddings.npz"
    cache.write_bytes(b"not an npz file")
    with pytest.raises(InputError, match="embedding cache"):
        SearchIndex.build(_DOCS, embedding_cache=cache)
