"""Load the shipped Korean gazetteer and name tables (UTF-8 CSV in dari/synth/data) into numpy arrays."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dari.errors import InputError
from dari.kr.romanize import romanize_name

DATA_DIR = Path(__file__).resolve().parent.parent / "synth" / "data"

# Birth cohorts used to pick generation-appropriate given-name syllables (given_syllables.csv).
GENERATION_START_YEARS: tuple[int, ...] = (1960, 1980, 2000)


@dataclass(frozen=True)
class Gazetteer:
    """시/도 and 시/군/구 with their 동 and road names, flattened for vectorised sampling."""

    sido: npt.NDArray[np.str_]
    sido_short: npt.NDArray[np.str_]
    sido_population: npt.NDArray[np.float64]
    sido_postcode_prefix: tuple[tuple[int, int], ...]
    sigungu_sido: npt.NDArray[np.int64]
    sigungu: npt.NDArray[np.str_]
    sigungu_prefix: npt.NDArray[np.str_]
    sigungu_population: npt.NDArray[np.float64]
    postcode_lo: npt.NDArray[np.int64]
    postcode_hi: npt.NDArray[np.int64]
    dongs: npt.NDArray[np.str_]
    dong_start: npt.NDArray[np.int64]
    dong_count: npt.NDArray[np.int64]
    roads: npt.NDArray[np.str_]
    road_start: npt.NDArray[np.int64]
    road_count: npt.NDArray[np.int64]

    def sido_index(self, name: str) -> int:
        """Index of a 시/도 given its full or short name (서울특별시 or 서울)."""
        for i, (full, short) in enumerate(zip(self.sido.tolist(), self.sido_short.tolist(), strict=True)):
            if name in (full, short):
                return i
        raise InputError(f"unknown 시/도 {name!r}")


@dataclass(frozen=True)
class SyllablePool:
    """Weighted syllables for one (sex, generation, position) cell."""

    syllables: npt.NDArray[np.str_]
    roman: npt.NDArray[np.str_]
    probs: npt.NDArray[np.float64]


@dataclass(frozen=True)
class NameTables:
    """Surname frequencies and given-name syllable pools."""

    surnames: npt.NDArray[np.str_]
    surname_roman: npt.NDArray[np.str_]
    surname_probs: npt.NDArray[np.float64]
    # key: (sex 'M'/'F', generation 0-4, position 0-2); generation 0 / position 0 = one-syllable names
    pools: dict[tuple[str, int, int], SyllablePool]


def _read(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"cannot read gazetteer file: {exc}", file=str(path)) from exc


def _flatten(
    lists: list[list[str]],
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    counts = np.array([len(x) for x in lists], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    flat = np.array([item for x in lists for item in x], dtype=str)
    return flat, starts, counts


@lru_cache(maxsize=4)
def load_gazetteer(data_dir: Path = DATA_DIR) -> Gazetteer:
    """Load regions.csv and sigungu.csv; postcode blocks split each 시/도 range among its 시/군/구."""
    regions = _read(data_dir / "regions.csv")
    rows = _read(data_dir / "sigungu.csv")
    sido = [r["sido"] for r in regions]
    index = {name: i for i, name in enumerate(sido)}
    prefixes = tuple((int(r["postcode_lo"]), int(r["postcode_hi"])) for r in regions)
    sg_sido = np.array([index[r["sido"]] for r in rows], dtype=np.int64)
    lo = np.zeros(len(rows), dtype=np.int64)
    hi = np.zeros(len(rows), dtype=np.int64)
    # Real 국가기초구역 codes are contiguous per 시/군/구 within the 시/도 range; equal blocks keep that.
    for s, (first, last) in enumerate(prefixes):
        members = np.flatnonzero(sg_sido == s)
        start, stop = first * 1000, (last + 1) * 1000
        edges = start + (np.arange(members.size + 1) * (stop - start)) // max(members.size, 1)
        lo[members], hi[members] = edges[:-1], edges[1:] - 1
    dongs, dong_start, dong_count = _flatten([r["dongs"].split(";") for r in rows])
    roads, road_start, road_count = _flatten([r["roads"].split(";") for r in rows])
    prefix = [f"{r['sido']} {r['sigungu']}" if r["sigungu"] else r["sido"] for r in rows]
    return Gazetteer(
        sido=np.array(sido, dtype=str),
        sido_short=np.array([r["short"] for r in regions], dtype=str),
        sido_population=np.array([float(r["population_10k"]) for r in regions]),
        sido_postcode_prefix=prefixes,
        sigungu_sido=sg_sido,
        sigungu=np.array([r["sigungu"] for r in rows], dtype=str),
        sigungu_prefix=np.array(prefix, dtype=str),
        sigungu_population=np.array([float(r["population_10k"]) for r in rows]),
        postcode_lo=lo,
        postcode_hi=hi,
        dongs=dongs,
        dong_start=dong_start,
        dong_count=dong_count,
        roads=roads,
        road_start=road_start,
        road_count=road_count,
    )


@lru_cache(maxsize=4)
def load_name_tables(data_dir: Path = DATA_DIR) -> NameTables:
    """Load surnames.csv (with passport spellings) and given_syllables.csv."""
    surnames = _read(data_dir / "surnames.csv")
    weights = np.array([float(r["percent"]) for r in surnames])
    # The table lists ~95% of the population; the missing long tail of rare surnames is folded into
    # the rare ones listed, so the common surnames keep their census shares exactly.
    tail = weights < 0.5
    weights[tail] += max(100.0 - weights.sum(), 0.0) * weights[tail] / weights[tail].sum()
    cells: dict[tuple[str, int, int], list[tuple[str, float]]] = {}
    for r in _read(data_dir / "given_syllables.csv"):
        key = (r["sex"], int(r["generation"]), int(r["position"]))
        cells.setdefault(key, []).append((r["syllable"], float(r["weight"])))
    pools = {}
    for key, items in cells.items():
        w = np.array([x[1] for x in items])
        pools[key] = SyllablePool(
            syllables=np.array([x[0] for x in items], dtype=str),
            roman=np.array([romanize_name(x[0]) for x in items], dtype=str),
            probs=w / w.sum(),
        )
    return NameTables(
        surnames=np.array([r["surname"] for r in surnames], dtype=str),
        surname_roman=np.array([r["roman"] for r in surnames], dtype=str),
        surname_probs=weights / weights.sum(),
        pools=pools,
    )
