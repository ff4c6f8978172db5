"""ARX-style search of the generalisation lattice for the lowest-loss node that is k-anonymous after suppression.

A node is a vector of levels, one per quasi-identifier. At a node, records in classes smaller than k are
suppressed; the node *satisfies* the policy when at most ⌊max_suppression · n⌋ records are suppressed.
Because every hierarchy level is a function of the one below, raising any level only merges classes, so the
suppressed count never grows going up: satisfying nodes are closed upwards and failing nodes downwards
(the monotonicity ARX's Flash and OLA exploit). The search visits nodes in order of a lower bound on their
loss, skips every node below a known failure, and stops once the bound reaches the best loss found — so
it is exhaustive in effect, which a lattice of ≤ 6 QIs × ≤ 5 levels (≤ 15,625 nodes) allows.

Loss (see ``Loss``): precision loss 1 − Prec (Sweeney 2002) with h_i / H_i the relative level of QI i,
``PL = (1/|QI|) Σ_i h_i/H_i · (n − s)/n + s/n`` (s suppressed records count as fully generalised), and the
discernibility metric (Bayardo & Agrawal 2005) ``DM = Σ_{|E| ≥ k} |E|² + s · n``. PL ≥ mean_i h_i/H_i, which
is the bound the search uses when minimising precision loss.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
Node = tuple[int, ...]
_MAX_KEY = 1 << 62


@dataclass(frozen=True)
class Evaluation:
    """Outcome of one lattice node."""

    node: Node
    suppressed: int
    precision_loss: float
    discernibility: int

    def score(self, metric: Literal["precision", "discernibility"]) -> tuple[float, float, int, Node]:
        """Sort key: the chosen metric, then the other one, then fewest steps, then the node itself."""
        first, second = (
            (self.precision_loss, float(self.discernibility))
            if metric == "precision"
            else (float(self.discernibility), self.precision_loss)
        )
        return first, second, sum(self.node), self.node


@dataclass(frozen=True)
class Frequencies:
    """Distinct level-0 QI combinations with their counts, and each QI's level-0 → level-h code maps."""

    codes: list[IntArray]  # per QI: level-0 code of each combination
    counts: IntArray  # records per combination
    maps: list[list[IntArray]]  # maps[i][h][level-0 code] = level-h code
    cards: list[list[int]]  # cards[i][h] = number of distinct labels of QI i at level h


def class_sizes(freq: Frequencies, node: Node) -> IntArray:
    """Sizes of the equivalence classes at a lattice node."""
    key = np.zeros(len(freq.counts), dtype=np.int64)
    bound = 1
    for codes, maps, cards, level in zip(freq.codes, freq.maps, freq.cards, node, strict=True):
        if bound * cards[level] >= _MAX_KEY:
            # renumber densely before the mixed-radix key could overflow int64
            _, key = np.unique(key, return_inverse=True)
            bound = int(key.max()) + 1
        key = key * cards[level] + maps[level][codes]
        bound *= cards[level]
    if bound <= max(1 << 22, 4 * len(key)):
        sizes = np.bincount(key, weights=freq.counts, minlength=bound)
    else:
        _, inverse = np.unique(key, return_inverse=True)
        sizes = np.bincount(inverse, weights=freq.counts)
    return sizes[sizes > 0].astype(np.int64)


def evaluate(freq: Frequencies, node: Node, heights: Sequence[int], k: int) -> Evaluation:
    """Suppression and loss of a node."""
    sizes = class_sizes(freq, node)
    n = int(sizes.sum())
    small = sizes < k
    suppressed = int(sizes[small].sum())
    kept = sizes[~small]
    relative = sum(h / top for h, top in zip(node, heights, strict=True)) / len(node)
    precision = relative * (n - suppressed) / n + suppressed / n
    return Evaluation(node, suppressed, precision, int((kept * kept).sum()) + suppressed * n)


def search(
    freq: Frequencies,
    heights: Sequence[int],
    k: int,
    max_suppressed: int,
    metric: Literal["precision", "discernibility"],
) -> tuple[Evaluation | None, int]:
    """Best satisfying node (None if none) and how many nodes were evaluated."""
    nodes = list(itertools.product(*(range(h + 1) for h in heights)))

    def bound(node: Node) -> float:
        return sum(h / top for h, top in zip(node, heights, strict=True)) / len(node)

    if metric == "precision":
        nodes.sort(key=lambda node: (bound(node), sum(node), node))
    failures: list[Node] = []
    best: Evaluation | None = None
    evaluated = 0
    for node in nodes:
        if metric == "precision" and best is not None and bound(node) > best.precision_loss:
            break  # every later node has a loss at least its bound, which already exceeds the best
        if any(all(a <= b for a, b in zip(node, fail, strict=True)) for fail in failures):
            continue  # below a failing node, so it fails too (monotonicity)
        result = evaluate(freq, node, heights, k)
        evaluated += 1
        if result.suppressed > max_suppressed:
            failures = [f for f in failures if not all(a <= b for a, b in zip(f, node, strict=True))]
            failures.append(node)
        elif best is None or result.score(metric) < best.score(metric):
            best = result
    return best, evaluated
