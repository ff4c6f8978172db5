"""Lexical scoring of a query: BM25 per query unit, morphological variants and vocabulary expansions weighted.

For each query unit u (a word, or a phrase the terminology knows) and document d:

    exact_u(d)    = Σ_words bm25(word term, d) + ALIAS_WEIGHT · Σ_words bm25(variant terms, d)
    expanded_u(d) = max over the unit's alternative forms f of Σ_{t∈f} bm25(t, d), counted only where d holds
                    every term of f (an alternative is a phrase, not a bag of words)
    score_u(d)    = exact_u(d)                                              if d holds every word of u
                  = max(PARTIAL_WEIGHT · k/n · exact_u(d), EXPANSION_WEIGHT · c_u · expanded_u(d))  otherwise

where a word counts as held when its term or a variant occurs and k of the unit's n words are held: a phrase known
to the terminology ('kidney failure') is matched by 'kidney' alone only in part, and less than by its whole
translation ('신부전'); and
c_u = min(1, min{exact_u(d') : d' holds all of u} / max_d expanded_u(d)). The factor c_u keeps every
expansion-only score at or below EXPANSION_WEIGHT × the weakest full exact match of the same unit, so a document
that contains what was typed always outranks one that only contains a synonym or translation of it, whatever the
IDFs of the two wordings. The lexical score is Σ_u score_u(d).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dari.hub.search.bm25_index import FloatArray, LexicalIndex
from dari.hub.search.expansion import QueryUnit

ALIAS_WEIGHT = 0.5  # a morphological variant of a typed word ('당뇨병' → '당뇨')
EXPANSION_WEIGHT = 0.5  # an alternative form from the terminology ('당뇨' → 'diabetes mellitus'), at most
PARTIAL_WEIGHT = 0.5  # a document holding only some words of a multi-word unit, times the share it holds

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class LexicalMatch:
    """Per-document results of scoring one query: total score, and per unit where it matched and how."""

    score: FloatArray
    full: BoolArray  # every effective unit matched as typed
    unit_expanded: tuple[BoolArray, ...]  # per unit: found only through an alternative form
    effective: tuple[bool, ...]  # per unit: matched at least one document at all
    columns: dict[str, FloatArray | None]

    def highlight_terms(self, units: Sequence[QueryUnit], doc: int) -> set[str]:
        """The terms to mark in one document: typed words and variants it holds, and alternatives it holds whole."""
        single, phrases = self.highlight_forms(units, doc)
        return single | {t for form in phrases for t in form}

    def highlight_forms(self, units: Sequence[QueryUnit], doc: int) -> tuple[set[str], list[tuple[str, ...]]]:
        """What to mark in one document: single terms (typed words, variants, one-word alternatives) anywhere,
        and the multi-word alternatives it holds whole, to be marked only where their words stand together
        (so 'hypertension' → '고혈압성 질환' marks that phrase, not every '질환' of the document)."""
        single: set[str] = set()
        phrases: list[tuple[str, ...]] = []

        def present(term: str) -> bool:
            col = self.columns.get(term)
            return col is not None and bool(col[doc] > 0)

        for unit in units:
            for word in unit.words:
                single.update(t for t in (word.term, *(a.term for a in word.aliases)) if present(t))
            for form in unit.alternatives:
                if all(present(t) for t in form):
                    if len(form) == 1:
                        single.update(form)
                    else:
                        phrases.append(form)
        return single, phrases


def score_units(index: LexicalIndex, units: Sequence[QueryUnit]) -> LexicalMatch:
    """Score every document of the index against the query units (see the module docstring)."""
    n = index.num_docs
    columns: dict[str, FloatArray | None] = {}

    def column(term: str) -> FloatArray | None:
        if term not in columns:
            columns[term] = index.column(term)
        return columns[term]

    total = np.zeros(n, dtype=np.float32)
    full_all = np.ones(n, dtype=bool)
    expanded_flags: list[BoolArray] = []
    effective: list[bool] = []
    for unit in units:
        exact = np.zeros(n, dtype=np.float32)
        held = np.zeros(n, dtype=np.float32)
        for word in unit.words:
            present = np.zeros(n, dtype=bool)
            for weight, term in ((1.0, word.term), *((ALIAS_WEIGHT, a.term) for a in word.aliases)):
                col = column(term)
                if col is not None:
                    exact += weight * col
                    present |= col > 0
            held += present
        full = held == len(unit.words)
        if len(unit.words) > 1:
            partial = PARTIAL_WEIGHT * held / len(unit.words)
            exact = np.where(full, exact, exact * partial).astype(np.float32)
        expanded = np.zeros(n, dtype=np.float32)
        for form in unit.alternatives:
            cols = [column(t) for t in form]
            if any(c is None for c in cols):
                continue
            found = [c for c in cols if c is not None]
            whole = np.logical_and.reduce([c > 0 for c in found])
            np.maximum(expanded, np.where(whole, np.sum(found, axis=0), 0.0), out=expanded)
        score = exact
        expanded_only = np.zeros(n, dtype=bool)
        if expanded.any():
            scale = 1.0
            if full.any():
                scale = min(1.0, float(exact[full].min()) / float(expanded.max()))
            boosted = (EXPANSION_WEIGHT * scale * expanded).astype(np.float32)
            expanded_only = ~full & (boosted > exact)
            score = np.where(full, exact, np.maximum(exact, boosted)).astype(np.float32)
        matched = bool((score > 0).any())
        effective.append(matched)
        if matched:
            full_all &= full
        total += score
        expanded_flags.append(expanded_only & (expanded > 0))
    if not any(effective):
        full_all[:] = False
    return LexicalMatch(
        score=total,
        full=full_all & (total > 0),
        unit_expanded=tuple(expanded_flags),
        effective=tuple(effective),
        columns=columns,
    )
