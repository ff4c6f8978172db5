"""Name forms without titles, spaced Korean names, long ID numbers, the trie regex, and the tagger's line skip."""

from __future__ import annotations

import re

import pytest

from dari.privacy.text.corpus_ward import make_ward_corpus
from dari.privacy.text.deid import detect
from dari.privacy.text.lexicon import alternation, trie_alternation
from dari.privacy.text.tagger import (
    PersonTagger,
    _spans_from_tags,
    clean_span,
    is_candidate,
    line_features,
    person_tagger,
    tokenize,
)


def _found(text: str, label: str = "PERSON") -> list[str]:
    return [text[s.start : s.end] for s in detect(text, tagger=False) if s.label == label]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Signed, Jane Whitfield, MD", "Jane Whitfield"),
        ("Olivia Brennan PGY-2", "Olivia Brennan"),
        ("History from the patient and Tomas Ferreira (son).", "Tomas Ferreira"),
        ("We saw Ana Lindqvist, a 64-year-old woman, today.", "Ana Lindqvist"),
        ("Peter Oduya, 20391844, DOB 3 Mar 1950", "Peter Oduya"),
        ("Dear Abernathy,", "Abernathy"),
        ("Yours sincerely,\nMarta Kowalczyk\n", "Marta Kowalczyk"),
        ("Discussed with Helen Marsh on the phone.", "Helen Marsh"),
        ("Requested by: Sophie O'Neil", "Sophie O'Neil"),
        ("Min-jun Kim was admitted.", "Min-jun Kim"),
        ("Re: PARK, JI HOON, born 1970", "PARK, JI HOON"),
        ("Kwon, Soyeon is stable.", "Kwon, Soyeon"),
        ("Surgeon Young-jae Jang", "Young-jae Jang"),
    ],
)
def test_english_name_forms_found_without_a_title(text: str, name: str) -> None:
    # Prepare / Execute / Assert: the rules alone (no tagger) find the whole name, nothing wider
    assert name in _found(text)


@pytest.mark.parametrize(
    "text",
    ["Internal Medicine, MD", "cc: GP", "ALT        51.2 H  U/L       (0-40)", "Parkinson disease (father)"],
)
def test_english_name_forms_leave_departments_abbreviations_and_eponyms(text: str) -> None:
    assert _found(text) == []


def test_spaced_korean_names_need_a_cue() -> None:
    cued = ["출력자: 김 지빈  Page 1/1", "보호자(부) 김 성주 에게 설명함.", "판독의:신 경정", "외과 이 민호 드림"]
    for text in cued:
        assert any(" " in n for n in _found(text)), text
    assert _found("이 약을 복용 중이며 김 검사 후 퇴원") == []


def test_long_digit_runs_are_ids_but_dates_and_quantities_are_not() -> None:
    text = "지 영수 (70722421) 내원. 검사일 20240305, 수치 1.0000001, 12,500,000원, acc 123456789012"
    assert _found(text, "MRN") == ["70722421", "123456789012"]
    assert "20240305" in _found(text, "DATE")


def test_trie_alternation_matches_the_flat_alternation() -> None:
    # Prepare: overlapping prefixes, regex metacharacters, one word a prefix of another
    words = ["서울", "서울특별시", "서울시", "부산", "부산광역시", "강남구", "강서구", "a.b", "a", "(x)"]
    samples = ["서울특별시 강남구", "서울시청", "부산 x", "강서구", "a.b", "ab", "(x)", "서울특", "강", "부산광역"]
    flat, trie = re.compile(alternation(words)), re.compile(trie_alternation(words))
    for s in samples:
        a, b = flat.match(s), trie.match(s)
        assert (a and a.group()) == (b and b.group()), s


def test_tagger_line_skip_and_cache_change_nothing() -> None:
    """The fast path (skip lines with no candidate word, remember lines) against tagging every line afresh."""
    tagger = person_tagger()
    assert isinstance(tagger, PersonTagger)
    crf = tagger._tagger
    docs = make_ward_corpus(36, seed=77)
    for doc in docs:
        reference = []
        for tokens in tokenize(doc.text):
            tags = crf.tag(line_features(tokens, doc.text))
            reference += [c for s in _spans_from_tags(tokens, tags) for c in clean_span(doc.text, s)]
        assert tagger.find(doc.text) == reference, doc.id
        assert tagger.find(doc.text) == reference  # second time from the line cache
    assert not is_candidate("ALT") and not is_candidate("정상") and is_candidate("LEE") and is_candidate("홍길동님")


def test_clinic_family_spans_kinds_and_unseen_scores() -> None:
    from dari.privacy.text.corpus_clinic import KINDS, make_clinic_corpus
    from dari.privacy.text.deid import plausible_name
    from dari.privacy.text.evaluation import evaluate

    docs = make_clinic_corpus(24, seed=3)
    assert sorted({d.kind for d in docs}) == sorted(KINDS)
    for doc in docs:
        for start, end, _ in doc.spans:
            assert doc.text[start:end].strip() == doc.text[start:end] != "" and "None" not in doc.text[start:end]
    result = evaluate(docs)
    assert result.exact["ALL"].f1 >= 0.9 and result.leaks("PHONE")[0] == 0 and result.leaks("RRN")[0] == 0
    # the vocabulary checks on names the tagger finds alone: medical words and dictionary nouns go, names stay
    assert not plausible_name("Osteoporosis") and not plausible_name("GERD, AF") and not plausible_name("유지됨")
    assert plausible_name("이채율") and plausible_name("Rafael Quintero") and not plausible_name("반 공기")


def test_rule_support_by_bisection_matches_a_scan() -> None:
    import random

    from dari.privacy.text.deid import _covered, _supported
    from dari.privacy.text.model import Span

    rng = random.Random(0)
    for _ in range(500):
        ruled = [Span(a, a + rng.randint(1, 8), "PERSON") for a in rng.choices(range(100), k=rng.randint(0, 8))]
        b = rng.randint(0, 100)
        span = Span(b, b + rng.randint(1, 8), "PERSON")
        assert _supported(span, *_covered(ruled)) == any(r.start < span.end and span.start < r.end for r in ruled)
