"""t-closeness: Earth Mover's Distance between each class's sensitive distribution and the table's.

Li, Li & Venkatasubramanian, "t-Closeness: Privacy Beyond k-Anonymity and l-Diversity", ICDE 2007, §4.
With P = (p_1..p_m) the distribution of the sensitive attribute within one equivalence class and
Q = (q_1..q_m) its distribution over the whole table (m = distinct values in the table):

* equal distance (categorical; every pair of distinct values is at distance 1):
  ``EMD(P, Q) = ½ Σ_i |p_i − q_i|``
* ordered distance (ordinal or numeric; values ranked 1..m, distance |i − j| / (m − 1)):
  ``EMD(P, Q) = 1/(m − 1) · Σ_{i=1}^{m} |Σ_{j=1}^{i} (p_j − q_j)|``

A table has t-closeness t when every class has EMD ≤ t; this module returns that maximum.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
# classes × values cells per numpy block of the ordered-distance computation (≈ 32 MiB of float64)
_BLOCK_CELLS = 4_000_000


def max_emd(
    class_ids: IntArray, value_ranks: IntArray, counts: IntArray, distance: Literal["equal", "ordered"]
) -> float:
    """Largest EMD over classes, given one (class id, value rank, count) triple per class and sensitive value."""
    classes = int(class_ids.max()) + 1
    values = int(value_ranks.max()) + 1
    sizes = np.bincount(class_ids, weights=counts, minlength=classes)
    overall = np.bincount(value_ranks, weights=counts, minlength=values) / counts.sum()
    if distance == "equal":
        p = counts / sizes[class_ids]
        q = overall[value_ranks]
        # values absent from a class contribute q_i each: Σ_absent q_i = 1 − Σ_present q_i
        present_gap = np.bincount(class_ids, weights=np.abs(p - q), minlength=classes)
        present_q = np.bincount(class_ids, weights=q, minlength=classes)
        return float(np.max(0.5 * (present_gap + 1.0 - present_q)))
    if values == 1:
        return 0.0
    # the cumulative sums need every rank, so work on dense class × value blocks
    block = max(1, _BLOCK_CELLS // values)
    order = np.argsort(class_ids, kind="stable")
    cid, vr, cnt = class_ids[order], value_ranks[order], counts[order]
    firsts = np.append(np.arange(0, classes, block), classes)
    bounds = np.searchsorted(cid, firsts)
    worst = 0.0
    for lo_class, lo, hi in zip(firsts[:-1].tolist(), bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = min(block, classes - lo_class)
        dense = np.zeros((rows, values))
        np.add.at(dense, (cid[lo:hi] - lo_class, vr[lo:hi]), cnt[lo:hi])
        dense /= sizes[lo_class : lo_class + rows, None]
        emd = np.abs(np.cumsum(dense - overall, axis=1)).sum(axis=1) / (values - 1)
        worst = max(worst, float(emd.max()))
    return worst
