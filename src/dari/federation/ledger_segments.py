"""The release ledger's files: sorted key segments searched with numpy, and each release's member sets.

A key segment (`keys-<token>.u64`) is a raw (3, n) little-endian uint64 array: the stored smallest hashes of many
sets, sorted, with each hash's set size and cell id beside it. A release writes one segment and one member file
(`members-<token>.u64`, its sets' sorted hashes end to end); the manifest (the SQLite `segments` table and the
`cells` rows pointing into member files) is committed after both files and their folder are fsynced, so a power
cut leaves either the whole release on record or files no row names (deleted under the write lock by
`collect_garbage`). Segments merge LSM-style (`FAN_IN` segments of one level into one of the next): at most
(FAN_IN − 1)·log_FAN_IN(releases) segments to search, each key rewritten about log_FAN_IN(releases) times.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Hashes = npt.NDArray[np.uint64]
KEYS_PREFIX, MEMBERS_PREFIX = "keys-", "members-"
FAN_IN = 8  # segments of one level merged into one of the next (tests vary it)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(folder: Path, name: str, data: bytes) -> None:
    """Write a new file owner-only and fsync it (the caller fsyncs the folder once for all its files)."""
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def new_name(prefix: str, suffix: str) -> str:
    """A fresh file name (random, so two attempts never clash)."""
    return f"{prefix}{secrets.token_hex(8)}{suffix}"


def write_members(folder: Path, sets: list[Hashes]) -> tuple[str, list[int]]:
    """One release's sets end to end in a new member file: its name and each set's offset (in hashes)."""
    name = new_name(MEMBERS_PREFIX, ".u64")
    offsets = np.concatenate(([0], np.cumsum([m.size for m in sets])))[:-1].tolist()
    _write(folder, name, b"".join(m.astype("<u8").tobytes() for m in sets))
    return name, [int(o) for o in offsets]


def read_members(folder: Path, name: str, offset: int, count: int) -> Hashes:
    """`count` hashes of a set from its member file."""
    return np.fromfile(folder / name, dtype="<u8", count=count, offset=8 * offset)


def write_keys(folder: Path, hashes: Hashes, sizes: npt.NDArray[Any], cells: npt.NDArray[Any]) -> str:
    """A new key segment, sorted by hash: its file name."""
    hashes, sizes, cells = (np.asarray(x).astype("<u8") for x in (hashes, sizes, cells))  # no float promotion
    order = np.argsort(hashes, kind="stable")
    table = np.stack([hashes[order], sizes[order], cells[order]])
    name = new_name(KEYS_PREFIX, ".u64")
    _write(folder, name, table.tobytes())
    return name


def load_keys(folder: Path, name: str, count: int) -> Hashes:
    """A key segment of `count` keys, memory-mapped (a search touches only the pages its binary searches land on).

    Raw bytes, not `.npy`: `np.load` parses its header with `ast.literal_eval`, ~0.5 ms a segment.
    """
    if count == 0:
        return np.zeros((3, 0), np.uint64)
    table: Hashes = np.asarray(np.memmap(folder / name, dtype="<u8", mode="r", shape=(3, count)))
    return table


def merge_keys(folder: Path, segments: list[tuple[str, int]]) -> str:
    """The union of key segments (file, keys) in one new segment."""
    both = np.concatenate([load_keys(folder, name, n) for name, n in segments], axis=1)
    return write_keys(folder, both[0], both[1], both[2])


def to_merge(levels: list[int]) -> int:
    """How many of the newest segments (levels oldest first) to merge into one: the newest `FAN_IN` when they share
    a level (a base-`FAN_IN` counter: at most (FAN_IN − 1) segments a level, each key rewritten once a level)."""
    tail = levels[-FAN_IN:]
    return FAN_IN if len(tail) == FAN_IN and len(set(tail)) == 1 else 0


def sync_folder(folder: Path) -> None:
    """fsync the folder so new files' names survive a power cut."""
    _fsync_dir(folder)


def collect_garbage(folder: Path, referenced: set[str]) -> None:
    """Delete segment and member files no committed row names (call under the write lock)."""
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith((KEYS_PREFIX, MEMBERS_PREFIX)) and name not in referenced:
            Path(entry.path).unlink(missing_ok=True)


def matches(
    table: Hashes, probe: Hashes, sizes: npt.NDArray[np.int64], floor: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every (probe index, cell id, cell size) whose stored hash equals a probe hash within the size window.

    `probe` sorted (binary searches of sorted needles stay in cache); most probes miss, so the upper bound is
    searched for the hits only.
    """
    hashes = table[0]
    empty = np.zeros(0, np.int64)
    if hashes.size == 0:
        return empty, empty, empty
    lo = np.searchsorted(hashes, probe, "left")
    hit = np.flatnonzero(hashes[np.minimum(lo, hashes.size - 1)] == probe)
    if hit.size == 0:
        return empty, empty, empty
    lo = lo[hit]
    count = np.searchsorted(hashes, probe[hit], "right") - lo
    total = int(count.sum())
    which = np.repeat(hit, count)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(count)[:-1])), count)
    rows = starts + np.arange(total)
    csize = table[1][rows].astype(np.int64)
    keep = np.abs(csize - sizes[which]) < floor
    return which[keep], table[2][rows[keep]].astype(np.int64), csize[keep]
