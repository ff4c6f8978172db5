"""Training the person-name CRF from labelled notes (python-crfsuite's L-BFGS with elastic-net regularisation).

Two augmentations keep the model from learning one generator's templates by heart: every note is also seen with
its names re-drawn from the shipped lexicons (Korean surname + given syllables by their frequencies, English given
name + surname in several orders), and a share of lines is seen without any neighbouring-word feature, so the
name-likeness of a word itself carries weight where a cue is missing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from dari.atomic import atomic_path
from dari.kr.gazetteer import load_name_tables
from dari.kr.romanize import romanize_syllable
from dari.privacy.text.corpus import LabelledDoc
from dari.privacy.text.model import Span
from dari.privacy.text.tagger import bio_labels, lexicons, line_features, tokenize

# L1 keeps the model small (most one-off word features get weight 0); chosen on the training family only.
C1, C2, MAX_ITERATIONS = 0.05, 0.01, 150
CONTEXT_DROPOUT = 0.3


SPACED_NAMES = 0.06  # 홍 길동: share of drawn Korean names written with a space after the surname


@cache
def _surname_romanisations() -> tuple[tuple[str, str], ...]:
    tables = load_name_tables()
    pairs = {(str(s), str(r)) for s, r in zip(tables.surnames, tables.surname_roman, strict=True)}
    # spellings in everyday use beside the official one (정 Jung, 이 Yi, 윤 Yun …)
    pairs |= {("정", "JUNG"), ("이", "YI"), ("윤", "YUN"), ("서", "SUH"), ("전", "CHUN"), ("노", "ROH")}
    return tuple(sorted(pairs))


def _romanised_korean(rng: random.Random) -> str:
    """A romanised Korean name in one of the orders English notes and passports use (public conventions)."""
    lx = lexicons()
    syllables, weights = lx["given_syllables"]
    given = [romanize_syllable(s) for s in rng.choices(syllables, weights, k=1 if rng.random() < 0.05 else 2)]
    surname = rng.choice(_surname_romanisations())[1].title()
    form = rng.random()
    if form < 0.25:
        return f"{'-'.join(given).capitalize()} {surname}"  # Min-jun Kim
    if form < 0.45:
        return f"{surname.upper()}, {' '.join(given).upper()}"  # KIM, MIN JUN
    if form < 0.65:
        return f"{surname} {''.join(given).title()}"  # Kim Minjun
    if form < 0.8:
        return f"{surname.upper()} {''.join(given).upper()}"  # KIM MINJUN
    return f"{surname}, {''.join(given).title()}"  # Kim, Minjun


def _draw_name(original: str, rng: random.Random) -> str:
    lx = lexicons()
    if any("가" <= ch <= "힣" for ch in original):
        surnames = sorted(lx["one"]) if rng.random() < 0.97 else sorted(lx["two"])
        syllables, weights = lx["given_syllables"]
        given = rng.choices(syllables, weights, k=1 if rng.random() < 0.05 else 2)
        space = " " if rng.random() < SPACED_NAMES else ""
        return str(rng.choice(surnames)) + space + "".join(given)
    if rng.random() < 0.4:
        return _romanised_korean(rng)
    given, surname = rng.choice(lx["en_given_list"]), rng.choice(lx["en_surname_list"])
    form = rng.random()
    if form < 0.55:
        return f"{given} {surname}"
    if form < 0.7:
        return f"{surname}, {given}"
    if form < 0.85:
        return f"{given} {surname}".upper()
    return f"{given} {given[0]}. {surname}" if rng.random() < 0.5 else surname


def substitute_names(doc: LabelledDoc, rng: random.Random) -> LabelledDoc:
    """The note with every name re-drawn from the lexicons (the same name gets the same stand-in); spans moved."""
    stand_in: dict[str, str] = {}
    parts: list[str] = []
    spans: list[Span] = []
    pos = shift = 0
    for s in sorted(doc.spans):
        parts.append(doc.text[pos : s.start])
        value = doc.text[s.start : s.end]
        if s.label == "PERSON":
            value = stand_in.setdefault(value, _draw_name(value, rng))
        start = s.start + shift
        spans.append(Span(start, start + len(value), s.label))
        shift += len(value) - (s.end - s.start)
        parts.append(value)
        pos = s.end
    parts.append(doc.text[pos:])
    return LabelledDoc(doc.id + "-sub", doc.kind, "".join(parts), spans)


def train_tagger(
    docs: Sequence[LabelledDoc],
    out: Path,
    *,
    seed: int = 0,
    c1: float = C1,
    c2: float = C2,
    max_iterations: int = MAX_ITERATIONS,
) -> int:
    """Train on `docs` (and their augmented copies) and write the model atomically to `out`; returns the lines."""
    import pycrfsuite

    rng = random.Random(seed)
    trainer = pycrfsuite.Trainer(verbose=False)
    lines = 0
    for original in docs:
        for doc in (original, substitute_names(original, rng)):
            for tokens in tokenize(doc.text):
                if not any(t.text[:1].isalpha() for t in tokens):
                    continue  # the tagger skips such lines too
                context = rng.random() >= CONTEXT_DROPOUT
                trainer.append(line_features(tokens, doc.text, context=context), bio_labels(tokens, doc.spans))
                lines += 1
    trainer.set_params({"c1": c1, "c2": c2, "max_iterations": max_iterations, "feature.possible_transitions": True})
    with atomic_path(out) as tmp:
        trainer.train(str(tmp))
    return lines
