"""Generalisation hierarchies declared as data, in the spirit of ARX's value → level₁ → level₂ → … tables.

Level 0 is the value itself (as text); each ``Level`` is one further generalisation step, and every level must
be a function of the one below it — which makes k-anonymity with suppression monotone over the lattice.
NULL (and an empty address) stays NULL at every level until ``*``.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dari.errors import InputError

Kind = Literal["band", "year", "decade", "sigungu", "sido", "prefix", "table", "top"]
Labels = tuple[str | None, ...]
TOP = "*"
_SIDO_ENDINGS = ("특별시", "광역시", "특별자치시", "도")


@dataclass(frozen=True)
class Level:
    """One generalisation step: a rule (kind, parameter) and its name in Korean and English for the report."""

    kind: Kind
    param: int = 0
    ko: str = ""
    en: str = ""


@dataclass(frozen=True)
class Hierarchy:
    """A named stack of generalisation levels; ``table`` holds explicit value → levels rows (CSV hierarchies)."""

    name: str
    levels: tuple[Level, ...]
    table: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def height(self) -> int:
        """Highest level number (level 0 is the original value)."""
        return len(self.levels)

    def level_name(self, level: int, lang: Literal["ko", "en"]) -> str:
        """Human-readable name of a level ("original value" for 0)."""
        if level == 0:
            return "원래 값" if lang == "ko" else "original value"
        step = self.levels[level - 1]
        return step.ko if lang == "ko" else step.en

    def generalise(self, values: Sequence[str | None], *, column: str = "") -> list[Labels]:
        """Labels of every value at levels 0..height (one tuple per value); InputError if a value does not fit."""
        missing = [v for v in values if v is not None and self.table and v not in self.table]
        if missing:
            raise InputError(f"{len(missing)} distinct values are not in hierarchy {self.name!r}", column=column)
        return [self._chain(v, column) for v in values]

    def _chain(self, value: str | None, column: str) -> Labels:
        labels: list[str | None] = [value]
        for step in self.levels:
            labels.append(_apply(step, value, self.table, column))
        return tuple(labels)

    @classmethod
    def from_rows(
        cls, name: str, rows: Iterable[Sequence[str]], *, ko: str = "", en: str = "", file: str | None = None
    ) -> Hierarchy:
        """A hierarchy from explicit rows (value, level1, level2, …), checked to be well formed and monotone."""
        table: dict[str, tuple[str, ...]] = {}
        width = None
        for number, raw in enumerate(rows, start=1):
            row = [cell.strip() for cell in raw]
            if not row or not any(row):
                continue
            if width is None:
                width = len(row)
            if len(row) != width or width < 2:
                raise InputError(
                    f"hierarchy {name!r}: every row needs the same number (≥ 2) of cells", file=file, row=number
                )
            table[row[0]] = tuple(row[1:])
        if width is None:
            raise InputError(f"hierarchy {name!r} has no rows", file=file)
        for depth in range(width - 2):
            seen: dict[str, str] = {}
            for levels in table.values():
                if seen.setdefault(levels[depth], levels[depth + 1]) != levels[depth + 1]:
                    raise InputError(
                        f"hierarchy {name!r}: level {depth + 2} is not a function of level {depth + 1}", file=file
                    )
        steps = tuple(Level("table", i, f"{ko or name} {i}단계", f"{en or name} level {i}") for i in range(1, width))
        return cls(name, steps, table)

    @classmethod
    def from_csv(cls, path: str | Path, *, delimiter: str = ",", encoding: str = "utf-8") -> Hierarchy:
        """Read an ARX-style hierarchy file: no header, one row per value: value,level1,level2,…"""
        file = Path(path)
        try:
            with file.open(encoding=encoding, newline="") as handle:
                rows = list(csv.reader(handle, delimiter=delimiter))
        except OSError as exc:
            raise InputError(f"cannot read hierarchy: {exc}", file=str(file)) from exc
        return cls.from_rows(file.stem, rows, file=str(file))


def age_bands(widths: Sequence[int] = (5, 10)) -> Hierarchy:
    """Age → bands of each width (e.g. 40-44 → 40-49) → *; each width must divide the next."""
    if not widths or any(w < 1 for w in widths) or any(b % a for a, b in itertools.pairwise(widths)):
        raise InputError(f"age_bands: widths must be positive and each divide the next, got {list(widths)}")
    steps = [Level("band", w, f"{w}세 구간", f"{w}-year bands") for w in widths]
    return Hierarchy("age_bands", (*steps, Level("top", 0, "전체 (*)", "suppressed (*)")))


def date_to_year() -> Hierarchy:
    """Date (or YYYY-…) → year → decade → *."""
    steps = (Level("year", 0, "연도", "year"), Level("decade", 0, "10년 단위", "decade"))
    return Hierarchy("date_to_year", (*steps, Level("top", 0, "전체 (*)", "suppressed (*)")))


def korean_address() -> Hierarchy:
    """Korean address → 시/도 + 시/군/구 → 시/도 → *, split on whitespace."""
    steps = (Level("sigungu", 0, "시/군/구", "si/gun/gu"), Level("sido", 0, "시/도", "si/do (province)"))
    return Hierarchy("korean_address", (*steps, Level("top", 0, "전체 (*)", "suppressed (*)")))


def postcode_prefix(lengths: Sequence[int] = (3, 2)) -> Hierarchy:
    """Postcode → first lengths[0] digits → first lengths[1] → … → *, the rest masked with '*'."""
    if not lengths or any(b >= a for a, b in itertools.pairwise(lengths)) or min(lengths) < 1:
        raise InputError(f"postcode_prefix: lengths must be positive and strictly decreasing, got {list(lengths)}")
    steps = [Level("prefix", n, f"앞 {n}자리", f"first {n} digits") for n in lengths]
    return Hierarchy("postcode_prefix", (*steps, Level("top", 0, "전체 (*)", "suppressed (*)")))


def suppress_only() -> Hierarchy:
    """Value → * (e.g. sex)."""
    return Hierarchy("suppress_only", (Level("top", 0, "전체 (*)", "suppressed (*)"),))


def split_korean_address(address: str | None) -> tuple[str | None, str | None]:
    """(시/도, 시/도 + 시/군/구) of an address; the 시/군/구 part falls back to 시/도 when absent (e.g. 세종)."""
    tokens = (address or "").split()
    if not tokens:
        return None, None
    if tokens[0].endswith(("시", "군", "구")) and not tokens[0].endswith(_SIDO_ENDINGS):
        # the 시/도 was left out ("강남구 역삼동"): keep the 시/군/구, leave the 시/도 unknown
        return None, tokens[0]
    sido = tokens[0]
    if len(tokens) < 2 or not tokens[1].endswith(("시", "군", "구")):
        return sido, sido
    parts = tokens[:2]
    # 일반구 under a 시 (경기도 수원시 영통구) belongs to the 시/군/구 level too
    if tokens[1].endswith("시") and len(tokens) > 2 and tokens[2].endswith("구"):
        parts.append(tokens[2])
    return sido, " ".join(parts)


def _apply(step: Level, value: str | None, table: Mapping[str, tuple[str, ...]], column: str) -> str | None:
    if step.kind == "top":
        return TOP
    if step.kind in ("sigungu", "sido"):
        sido, sigungu = split_korean_address(value)
        return sigungu if step.kind == "sigungu" else sido
    if value is None:
        return None
    if step.kind == "table":
        return table[value][step.param - 1]
    if step.kind == "band":
        try:
            low = math.floor(float(value) / step.param) * step.param
        except ValueError as exc:
            raise InputError("age bands need numeric values", column=column) from exc
        return f"{low}-{low + step.param - 1}"
    if step.kind == "prefix":
        return value[: step.param] + "*" * max(0, len(value) - step.param)
    year = value.strip()[:4]
    if not (year.isdigit() and len(year) == 4):
        raise InputError("dates must start with a four-digit year (YYYY-…)", column=column)
    return year if step.kind == "year" else f"{year[:3]}0-{year[:3]}9"
