"""Precision, recall and F1 per label against gold spans: exact match and lenient (overlap) match."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from dari.privacy.text.model import LABELS, Span


class _Doc(Protocol):
    text: str
    spans: list[Span]
    distractors: list[tuple[int, int, str]]


@dataclass(frozen=True)
class Scores:
    """Counts and derived scores for one label (or all labels together, micro-averaged)."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Evaluation:
    """Exact and lenient scores per label and overall, plus tagged distractor words (must be 0)."""

    exact: dict[str, Scores]
    lenient: dict[str, Scores]
    distractor_hits: int
    n_docs: int


def _overlaps(a: Span, b: Span) -> bool:
    return a.label == b.label and a.start < b.end and b.start < a.end


def evaluate(docs: Sequence[_Doc], detect: Callable[[str], list[Span]] | None = None) -> Evaluation:
    """Run the de-identifier (or `detect`) over labelled docs and score it per label; 'ALL' is micro-averaged."""
    if detect is None:
        from dari.privacy.text.deid import detect as default_detect

        detect = default_detect
    counts = {mode: {label: [0, 0, 0] for label in LABELS} for mode in ("exact", "lenient")}
    hits = 0
    for doc in docs:
        pred = [Span(*s) for s in detect(doc.text)]
        gold = [Span(*s) for s in doc.spans]
        pred_set, gold_set = set(pred), set(gold)
        for p in pred:
            c = counts["exact"][p.label]
            c[0 if p in gold_set else 1] += 1
            counts["lenient"][p.label][0 if any(_overlaps(p, g) for g in gold) else 1] += 1
        for g in gold:
            if g not in pred_set:
                counts["exact"][g.label][2] += 1
            if not any(_overlaps(g, p) for p in pred):
                counts["lenient"][g.label][2] += 1
        hits += sum(1 for s, e, _ in doc.distractors if any(p.start < e and s < p.end for p in pred))
    result: dict[str, dict[str, Scores]] = {}
    for mode, per_label in counts.items():
        scores = {label: Scores(*c) for label, c in per_label.items()}
        scores["ALL"] = Scores(*(sum(c[i] for c in per_label.values()) for i in range(3)))
        result[mode] = scores
    return Evaluation(exact=result["exact"], lenient=result["lenient"], distractor_hits=hits, n_docs=len(docs))


def format_table(evaluation: Evaluation) -> str:
    """Plain-text table: per label exact P/R/F1 and counts, lenient F1."""
    lines = [f"{'label':8} {'P':>6} {'R':>6} {'F1':>6} {'tp':>6} {'fp':>5} {'fn':>5} {'lenF1':>6}"]
    for label in (*LABELS, "ALL"):
        s, lenient = evaluation.exact[label], evaluation.lenient[label]
        lines.append(
            f"{label:8} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.tp:6d} {s.fp:5d} {s.fn:5d} {lenient.f1:6.3f}"
        )
    lines.append(f"distractor words tagged: {evaluation.distractor_hits} (of {evaluation.n_docs} documents)")
    return "\n".join(lines)
