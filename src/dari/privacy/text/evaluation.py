"""Precision, recall and F1 per label against gold spans: exact match and lenient (overlap) match."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

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
    # per document and label: exact tp, fp, fn, then gold identifiers left verbatim in the masked output
    per_doc: np.ndarray = field(default_factory=lambda: np.zeros((0, len(LABELS), 4), dtype=np.int64))

    def leaks(self, label: str) -> tuple[int, int]:
        """(gold identifiers of `label` still present verbatim in the masked output, gold identifiers)."""
        i = LABELS.index(label)
        gold = self.exact[label].tp + self.exact[label].fn
        return int(self.per_doc[:, i, 3].sum()), gold

    def ci(self, label: str, metric: str, *, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
        """95 % percentile-bootstrap interval of an exact-match metric (precision/recall/f1), resampling documents."""
        counts = self.per_doc[:, :, :3] if label == "ALL" else self.per_doc[:, [LABELS.index(label)], :3]
        per_doc = counts.sum(axis=1)  # documents x (tp, fp, fn)
        if per_doc.shape[0] == 0:
            return (float("nan"), float("nan"))
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, per_doc.shape[0], size=(n_boot, per_doc.shape[0]))
        tp, fp, fn = (per_doc[:, k][picks].sum(axis=1).astype(float) for k in range(3))
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
            r = np.where(tp + fn > 0, tp / (tp + fn), 1.0)
            f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
        values = {"precision": p, "recall": r, "f1": f}[metric]
        lo, hi = np.percentile(values, [2.5, 97.5])
        return float(lo), float(hi)


def _overlaps(a: Span, b: Span) -> bool:
    return a.label == b.label and a.start < b.end and b.start < a.end


def evaluate(docs: Sequence[_Doc], detect: Callable[[str], list[Span]] | None = None) -> Evaluation:
    """Run the de-identifier (or `detect`) over labelled docs and score it per label; 'ALL' is micro-averaged."""
    if detect is None:
        from dari.privacy.text.deid import detect as default_detect

        detect = default_detect
    counts = {mode: {label: [0, 0, 0] for label in LABELS} for mode in ("exact", "lenient")}
    hits = 0
    per_doc = np.zeros((len(docs), len(LABELS), 4), dtype=np.int64)
    index = {label: i for i, label in enumerate(LABELS)}
    for d, doc in enumerate(docs):
        pred = [Span(*s) for s in detect(doc.text)]
        gold = [Span(*s) for s in doc.spans]
        pred_set, gold_set = set(pred), set(gold)
        for p in pred:
            c = counts["exact"][p.label]
            hit = p in gold_set
            c[0 if hit else 1] += 1
            per_doc[d, index[p.label], 0 if hit else 1] += 1
            counts["lenient"][p.label][0 if any(_overlaps(p, g) for g in gold) else 1] += 1
        masked = _masked(doc.text, pred)
        for g in gold:
            if g not in pred_set:
                counts["exact"][g.label][2] += 1
                per_doc[d, index[g.label], 2] += 1
            if not any(_overlaps(g, p) for p in pred):
                counts["lenient"][g.label][2] += 1
            if doc.text[g.start : g.end] in masked:  # the identifier is still readable in the output
                per_doc[d, index[g.label], 3] += 1
        hits += sum(1 for s, e, _ in doc.distractors if any(p.start < e and s < p.end for p in pred))
    result: dict[str, dict[str, Scores]] = {}
    for mode, per_label in counts.items():
        scores = {label: Scores(*c) for label, c in per_label.items()}
        scores["ALL"] = Scores(*(sum(c[i] for c in per_label.values()) for i in range(3)))
        result[mode] = scores
    return Evaluation(
        exact=result["exact"], lenient=result["lenient"], distractor_hits=hits, n_docs=len(docs), per_doc=per_doc
    )


def _masked(text: str, spans: list[Span]) -> str:
    """The text with every predicted span (overlaps allowed) replaced by a tag: what a release would show."""
    parts, pos = [], 0
    for start, end, label in sorted(spans):
        if start < pos:
            start = pos
        if start >= end:
            continue
        parts += [text[pos:start], f"[{label}]"]
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def format_table(evaluation: Evaluation, *, ci: bool = False) -> str:
    """Plain-text table: per label exact P/R/F1 and counts, lenient F1 and recall; with `ci`, 95 % bootstrap
    intervals over documents for recall and F1, and the leak rate (gold identifiers left verbatim)."""
    head = f"{'label':8} {'P':>6} {'R':>6} {'F1':>6} {'tp':>6} {'fp':>5} {'fn':>5} {'lenF1':>6} {'lenR':>6}"
    if ci:
        head += f" {'R 95% CI':>13} {'F1 95% CI':>13} {'leaked':>11}"
    lines = [head]
    for label in (*LABELS, "ALL"):
        s, lenient = evaluation.exact[label], evaluation.lenient[label]
        row = (
            f"{label:8} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.tp:6d} {s.fp:5d} {s.fn:5d}"
            f" {lenient.f1:6.3f} {lenient.recall:6.3f}"
        )
        if ci:
            r_lo, r_hi = evaluation.ci(label, "recall")
            f_lo, f_hi = evaluation.ci(label, "f1")
            leaked = sum(evaluation.leaks(x)[0] for x in LABELS) if label == "ALL" else evaluation.leaks(label)[0]
            gold = s.tp + s.fn
            rate = f"{leaked}/{gold}" if gold else "-"
            row += f" {r_lo:6.3f}-{r_hi:6.3f} {f_lo:6.3f}-{f_hi:6.3f} {rate:>11}"
        lines.append(row)
    lines.append(f"distractor words tagged: {evaluation.distractor_hits} (of {evaluation.n_docs} documents)")
    return "\n".join(lines)
