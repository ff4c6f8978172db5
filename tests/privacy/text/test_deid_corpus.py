"""Evaluation on a 300-document synthetic corpus meets the accuracy targets (exact span match)."""

from __future__ import annotations

from collections import Counter

from dari.privacy.text.corpus import LabelledDoc, Scores, evaluate, make_corpus
from dari.synth.notes import NOTE_KINDS


def test_corpus_kinds_balanced_and_reproducible(corpus_300: list[LabelledDoc]) -> None:
    counts = Counter(doc.kind for doc in corpus_300)
    assert set(counts) == set(NOTE_KINDS)
    assert max(counts.values()) - min(counts.values()) <= 1
    again = make_corpus(16, seed=2024)
    assert [d.text for d in again] == [d.text for d in make_corpus(16, seed=2024)]


def test_corpus_gold_spans_match_text(corpus_300: list[LabelledDoc]) -> None:
    for doc in corpus_300[:50]:
        for start, end, _ in doc.spans:
            assert 0 <= start < end <= len(doc.text)


def test_evaluate_300_docs_meets_targets(corpus_300: list[LabelledDoc]) -> None:
    result = evaluate(corpus_300)
    assert result.exact["ALL"].f1 >= 0.95, result.exact
    assert result.exact["PERSON"].f1 >= 0.93, result.exact["PERSON"]
    assert result.distractor_hits == 0


def test_evaluate_scores_penalise_misses(corpus_300: list[LabelledDoc]) -> None:
    result = evaluate(corpus_300[:40], detect=lambda text: [])
    assert result.exact["ALL"].recall == 0.0
    assert Scores(tp=3, fp=1, fn=0).precision == 0.75
