"""Fuzzy linkage of CLKs (blocked all-pairs Dice, greedy one-to-one) and exact-then-fuzzy linkage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from dari.privacy.linkage.clk import ClkParams, dice_matrix, encode_clks_of, packed_of
from dari.privacy.linkage.exact import PAIR_SCHEMA, exact_tokens_of, link_exact
from dari.privacy.linkage.normalise import records_of

Ints = npt.NDArray[np.int64]
DEFAULT_THRESHOLD = 0.8


def linkage_tokens(records: pa.Table, key: bytes, params: ClkParams | None = None) -> pa.Table:
    """Everything a site sends the combination agency: row, RRN and name+birth+sex tokens, RRN status, CLK, blocks."""
    rec = records_of(records)
    exact = exact_tokens_of(rec, key)
    clks = encode_clks_of(rec, key, params)
    for name in ("clk", "block", "block_window"):
        exact = exact.append_column(name, clks.column(name))
    return exact


def _blocks(
    clks_a: pa.Table, clks_b: pa.Table, rows_a: Sequence[int], rows_b: Sequence[int]
) -> Iterator[tuple[Ints, Ints]]:
    """(A rows, B rows) per block: A's own year block against every B row whose ±1 window contains it."""
    block_a = clks_a.column("block").to_pylist()
    window_b = clks_b.column("block_window").to_pylist()
    by_block_b: dict[str, list[int]] = {}
    for j in rows_b:
        for label in window_b[j] or []:
            by_block_b.setdefault(label, []).append(j)
    by_block_a: dict[str, list[int]] = {}
    for i in rows_a:
        by_block_a.setdefault(block_a[i], []).append(i)
    for label, ia in by_block_a.items():
        jb = by_block_b.get(label)
        if jb:
            yield np.array(ia, dtype=np.int64), np.array(jb, dtype=np.int64)


def count_comparisons(clks_a: pa.Table, clks_b: pa.Table) -> int:
    """How many candidate pairs blocking leaves (the all-pairs count is len(a)·len(b))."""
    rows_a, rows_b = range(clks_a.num_rows), range(clks_b.num_rows)
    return sum(ia.size * jb.size for ia, jb in _blocks(clks_a, clks_b, rows_a, rows_b))


def _codes(tokens: list[str | None], index: dict[str, int]) -> Ints:
    """Integer codes for tokens shared across both sides; -1 for null."""
    return np.array([-1 if t is None else index.setdefault(t, len(index)) for t in tokens], dtype=np.int64)


def greedy_one_to_one(a: Ints, b: Ints, score: npt.NDArray[np.float64]) -> Ints:
    """Indices of candidates kept by greedy assignment: best score first, each row of either side used once."""
    order = np.lexsort((b, a, -score))  # ties broken by row so the result is deterministic
    used_a: set[int] = set()
    used_b: set[int] = set()
    keep: list[int] = []
    for c in order.tolist():
        i, j = int(a[c]), int(b[c])
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            keep.append(c)
    return np.array(keep, dtype=np.int64)


def link_fuzzy(
    clks_a: pa.Table,
    clks_b: pa.Table,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    rows_a: Sequence[int] | None = None,
    rows_b: Sequence[int] | None = None,
) -> pa.Table:
    """One-to-one links with Dice(a, b) ≥ threshold within birth-year blocks (Schnell et al. 2009), greedy by Dice."""
    packed_a, packed_b = packed_of(clks_a), packed_of(clks_b)
    ra = range(clks_a.num_rows) if rows_a is None else rows_a
    rb = range(clks_b.num_rows) if rows_b is None else rows_b
    # Two valid RRN tokens that differ mean two people; the veto keeps near-identical namesakes apart.
    veto = "rrn_token" in clks_a.column_names and "rrn_token" in clks_b.column_names
    if veto:
        index: dict[str, int] = {}
        code_a = _codes(clks_a.column("rrn_token").to_pylist(), index)
        code_b = _codes(clks_b.column("rrn_token").to_pylist(), index)
    found_a: list[Ints] = []
    found_b: list[Ints] = []
    found_s: list[npt.NDArray[np.float64]] = []
    for ia, jb in _blocks(clks_a, clks_b, ra, rb):
        sim = dice_matrix(packed_a[ia], packed_b[jb])
        r, c = np.nonzero(sim >= threshold)
        if veto:
            ca, cb = code_a[ia[r]], code_b[jb[c]]
            ok = (ca < 0) | (cb < 0) | (ca == cb)
            r, c = r[ok], c[ok]
        found_a.append(ia[r])
        found_b.append(jb[c])
        found_s.append(sim[r, c].astype(np.float64))
    if not found_a:
        return PAIR_SCHEMA.empty_table()
    a, b, s = np.concatenate(found_a), np.concatenate(found_b), np.concatenate(found_s)
    keep = greedy_one_to_one(a, b, s)
    row_a = np.asarray(clks_a.column("row").to_numpy(), dtype=np.int64)
    row_b = np.asarray(clks_b.column("row").to_numpy(), dtype=np.int64)
    return pa.table(
        [pa.array(row_a[a[keep]]), pa.array(row_b[b[keep]]), pa.array(["clk"] * keep.size), pa.array(s[keep])],
        schema=PAIR_SCHEMA,
    )


def link_combined(tokens_a: pa.Table, tokens_b: pa.Table, *, threshold: float = DEFAULT_THRESHOLD) -> pa.Table:
    """Exact links (RRN, then name+birth+sex) first, then CLK links among the rows both sides left unlinked."""
    exact = link_exact(tokens_a, tokens_b)
    linked_a = set(exact.column("a").to_pylist())
    linked_b = set(exact.column("b").to_pylist())
    row_a, row_b = tokens_a.column("row").to_pylist(), tokens_b.column("row").to_pylist()
    rest_a = [i for i, r in enumerate(row_a) if r not in linked_a]
    rest_b = [j for j, r in enumerate(row_b) if r not in linked_b]
    fuzzy = link_fuzzy(tokens_a, tokens_b, threshold=threshold, rows_a=rest_a, rows_b=rest_b)
    return pa.concat_tables([exact, fuzzy])
