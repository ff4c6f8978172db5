"""The validation job's pooled AUROC from fine score histograms summed by SecAgg+, which no site releases alone.

Without it, each site releases a disclosure-safe histogram whose bins hold ≥ min_cell positives and negatives,
so a small site's bins are coarse and the pooled AUROC is off the pooled-row value (up to 3e-3 on 3 × 5,000
rows with scores of 2 decimals: benchmarks/secagg.py). With `JobRequest.secure_histogram`, after the site
reports, every covered site contributes its positives' and negatives' counts on a common fine grid
(`dari.validation.histogram.fine_grid` with `SECURE_BINS` = 20,000 logit cells plus the job's anchors, or one
cell per value for declared decimals) as one SecAgg+ vector (`secure_agg.secure_weighted_mean`, weight 1 each,
clipping range 2¹⁶ counts per cell, quantisation 2²⁴: integer counts quantise exactly, so the sum is exact).
The hub sees only the sum over ≥ 2 sites (`dari.disclosure.require_sum_of_sites`), each site having passed its
own floor (rows, events and non-events ≥ its minimum cell) before it contributes, once per job, via the guard.

From the summed counts pₖ, nₖ (cells in increasing score order, P = Σpₖ, N = Σnₖ):

    AUROC = Σₖ pₖ (Σ_{j<k} nⱼ + ½ nₖ) / (P·N),     |AUROC − AUROC_rows| ≤ ½ Σₖ pₖ nₖ / (P·N)

the bound because inside a cell any order of its positives and negatives is possible (ties count ½ either way).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from pydantic import BaseModel, ConfigDict, Field

from dari.disclosure import DisclosureRules, require_min_cell, require_sum_of_sites
from dari.validation.calibration import bin_index
from dari.validation.evaluate import ValidationSpec
from dari.validation.histogram import MAX_VALUE_GRID_DECIMALS, fine_grid

if TYPE_CHECKING:  # the SecAgg+ machinery loads only where a secure sum runs (jobs.py imports this module)
    from flwr.serverapp import Grid

#: Counts per fine cell a site may contribute (the clipping range; a site above it refuses, never clips).
MAX_CELL_COUNT = 2**16
QUANTIZATION = 2**24  # 2·2¹⁶/2²⁴ = 2⁻⁷: an integer count quantises to an integer exactly
#: Logit cells of the secure grid: no cell is ever released alone, so it can be far finer than the released one
#: (the bound shrinks with the cell width: about 1e-3 at the released grid's 2,000 cells, 1e-4 at 20,000).
SECURE_BINS = 20_000


class SecureAuroc(BaseModel):
    """The pooled AUROC from the SecAgg+ sum of the covered sites' fine histograms, with its error bound."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    estimate: float
    error_bound: float = Field(description="½ Σ pₖnₖ/(P·N): the most the fine cells' ties can move the AUROC")
    se: float = Field(description="Hanley–McNeil standard error")
    sites: tuple[str, ...] = Field(description="sites whose histograms the secure sum holds")
    positives: int
    negatives: int
    fine_cells: int
    mechanism: str = "SecAgg+ (Flower SecAggPlusWorkflow / secaggplus_mod)"


def fine_counts(labels: np.ndarray, scores: np.ndarray, spec: ValidationSpec) -> np.ndarray:
    """A site's positives then negatives per fine cell (what it masks and sends; never sent in the clear)."""
    labels = np.asarray(labels, dtype=bool)  # 0/1 labels would index rows, not mask them
    edges = fine_grid(spec.model_copy(update={"histogram_bins": max(spec.histogram_bins, SECURE_BINS)}))
    idx = bin_index(scores, edges)
    cells = edges.size - 1
    return np.concatenate(
        [np.bincount(idx[labels], minlength=cells), np.bincount(idx[~labels], minlength=cells)]
    ).astype(np.float64)


def site_contribution(
    labels: np.ndarray, scores: np.ndarray, spec: ValidationSpec, rules: DisclosureRules
) -> np.ndarray:
    """The site's vector for the secure sum, after its own floor: rows, events and non-events ≥ min_cell."""
    events = int(labels.sum())
    require_min_cell(labels.size, "rows", rules)
    require_min_cell(events, "events", rules)
    require_min_cell(labels.size - events, "non-events", rules)
    counts = fine_counts(labels, scores, spec)
    if counts.max(initial=0.0) > MAX_CELL_COUNT:
        raise ValueError(f"a fine cell holds more than {MAX_CELL_COUNT} rows: the secure sum would clip it")
    return counts


def auroc_from_fine_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """The AUROC of summed fine counts (ties in a cell ½) and the bound ½ Σ pₖnₖ/(P·N) of its error."""
    p_total, n_total = float(pos.sum()), float(neg.sum())
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    pairs = p_total * n_total
    return float((pos @ below + 0.5 * pos @ neg) / pairs), float(0.5 * (pos @ neg) / pairs)


def _hanley_mcneil(a: float, n_pos: int, n_neg: int) -> float:
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def secure_pooled_auroc(
    grid: Grid, job_id: str, node_of: Mapping[str, int], spec: ValidationSpec, rules: DisclosureRules
) -> SecureAuroc:
    """Ask every covered site for its fine histogram under SecAgg+ and read the pooled AUROC from the sum."""
    from dari.federation.flower.secure_agg import SecureSettings, secure_weighted_mean

    require_sum_of_sites(len(node_of), "the secure histogram")
    settings = SecureSettings(clipping_range=float(MAX_CELL_COUNT), quantization_range=QUANTIZATION)
    content = RecordDict({"config": ConfigRecord({"job-id": job_id, "secure": "histogram"})})
    result = secure_weighted_mean(
        grid, {n: content for n in node_of.values()}, max_weight=1.0, server_round=1, settings=settings
    )
    site_of = {n: s for s, n in node_of.items()}
    sites = tuple(sorted(site_of[n] for n in result.nodes))
    require_sum_of_sites(len(sites), "the secure histogram")
    (mean,) = result.arrays
    counts = np.rint(mean * len(sites))  # weight 1 each: the mean times the sites is the (exact) sum
    cells = counts.size // 2
    pos, neg = counts[:cells], counts[cells:]
    require_min_cell(int(pos.sum()), "pooled events", rules)
    require_min_cell(int(neg.sum()), "pooled non-events", rules)
    estimate, bound = auroc_from_fine_counts(pos, neg)
    decimals = spec.score_decimals
    if decimals is not None and decimals <= MAX_VALUE_GRID_DECIMALS:
        bound = 0.0  # declared decimals: one possible score per cell, so a cell's pairs are true ties (½ exactly)
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    return SecureAuroc(
        estimate=estimate,
        error_bound=bound,
        se=_hanley_mcneil(estimate, n_pos, n_neg),
        sites=sites,
        positives=n_pos,
        negatives=n_neg,
        fine_cells=cells,
    )


def histogram_reply(message: Message, vector: np.ndarray) -> Message:
    """The site's reply the SecAgg+ mod masks: its vector, weight 1 (never leaves in this form)."""
    content = RecordDict({"arrays": ArrayRecord(numpy_ndarrays=[vector]), "metrics": MetricRecord({"num-examples": 1})})
    return Message(content, reply_to=message)


def is_histogram_round(config: Mapping[str, Any]) -> bool:
    """Whether a `train` message asks for the secure histogram (the validation app's only `train` use)."""
    return config.get("secure") == "histogram"
