"""The person sets behind what a validation job releases, recorded in the site's release ledger.

Every figure of a validation record stands on a set of rows: the metrics and Σ(p − y)² on all rows, the event
and non-event totals on each class, a 2×2 cell on the rows it counts, a histogram bin on the rows inside it. The
site-side functions of `dari.validation` (`site_metrics`, `site_sufficient_statistics`, `evaluate_subgroups`)
record those sets here when given a ledger, so a later release whose sets differ by a few persons is refused
(`dari.federation.ledger`). Rows must be one per person (the ids are the CDM's pseudonymous person ids).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dari.errors import InputError
from dari.validation._common import BoolArray, FloatArray
from dari.validation.calibration import bin_index

if TYPE_CHECKING:
    from dari.federation.ledger import Release
    from dari.validation.histogram import ScoreHistogram


def person_ids_of(person_ids: Any, n_rows: int) -> np.ndarray[Any, Any]:
    """The rows' person ids, checked: one integer per row, no person twice."""
    if person_ids is None:
        raise InputError("a release under the ledger needs the rows' person ids", column="person_id")
    ids = np.asarray(person_ids).ravel()
    if ids.size != n_rows or (ids.size and ids.dtype.kind not in "iu"):
        raise InputError(f"need one integer person id per row ({n_rows})", column="person_id")
    ordered = np.sort(ids)  # not np.unique: its hash path was 10× slower on 100,000 ids
    if ordered.size > 1 and bool(np.any(ordered[1:] == ordered[:-1])):
        raise InputError("a person appears in more than one row", column="person_id")
    return ids


def record_rows(release: Release, prefix: str, ids: Any, labels: BoolArray, *, released: bool = True) -> None:
    """All rows, the events and the non-events of one set of rows."""
    release.cell(f"{prefix}:rows", ids, released=released)
    release.cell(f"{prefix}:events", ids[labels], released=released)
    release.cell(f"{prefix}:non-events", ids[~labels], released=released)


def record_table(release: Release, prefix: str, ids: Any, labels: BoolArray, scores: FloatArray, t: float) -> None:
    """The four cells of the 2×2 table at threshold t (test-positive when score ≥ t)."""
    positive = scores >= t
    cells = {"tp": positive & labels, "fp": positive & ~labels, "fn": ~positive & labels, "tn": ~positive & ~labels}
    for name, mask in cells.items():
        release.cell(f"{prefix}:2x2:{name}", ids[mask])


def record_histogram(
    release: Release, prefix: str, ids: Any, labels: BoolArray, scores: FloatArray, hist: ScoreHistogram
) -> None:
    """Every class bin of the released histogram, by the rows inside it (`ids` checked by `person_ids_of`)."""
    keyed = release.keyed(ids)  # hashed once: a histogram has hundreds of small bins
    for name, mask, h in (("positives", labels, hist.positives), ("negatives", ~labels, hist.negatives)):
        idx = bin_index(scores[mask], np.asarray(h.edges))
        order = np.argsort(idx, kind="stable")
        cuts = np.searchsorted(idx[order], np.arange(1, len(h.counts)))
        for k, members in enumerate(np.split(keyed[mask][order], cuts)):
            release.cell_of(f"{prefix}:histogram:{name}[{k}]", members)
