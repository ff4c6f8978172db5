"""Where a dataset's hospital is: its Korean region (시/도), derived from the names it is published under.

`data/places.csv` holds the forms of each region's name ('광주광역시', '광주', 'Gwangju', 'Kwangju') and hospital
words that place a hospital without naming its region, or while naming another one ('전남대학교병원' is in
Gwangju). Korean forms match as substrings ('광주빛고을병원' → 광주광역시); English forms as whole words, case
ignored ('Busan Bada Medical Center' → 부산광역시). A hospital word wins over region forms; otherwise the first
region form found, in the order of the names given, wins.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from dari.errors import InputError
from dari.hub.search.analysis import has_hangul

PLACES_FILE = "places.csv"
REGION_NAMES_FILE = "region_names.csv"


@dataclass(frozen=True, slots=True)
class Region:
    """A Korean region (시/도): its official Korean name, short Korean name and English name."""

    name_ko: str
    short_ko: str
    name_en: str

    def forms(self) -> tuple[str, ...]:
        """The names search indexes for the region (official, short, English)."""
        return tuple(dict.fromkeys((self.name_ko, self.short_ko, self.name_en)))


@dataclass(frozen=True)
class PlaceTable:
    """Regions by Korean name, and the (kind, form, region) rows that place a name in one."""

    regions: dict[str, Region]
    rows: tuple[tuple[str, str, str], ...]

    def region_of(self, names: Iterable[str]) -> Region | None:
        """The region of a hospital known by these names (Korean and English), or None when none says."""
        texts = [n for n in names if n]
        for wanted in ("hospital", "region"):
            for text in texts:
                for kind, form, region in self.rows:
                    if kind == wanted and _contains(text, form):
                        return self.regions[region]
        return None

    def by_name(self, name: str) -> Region | None:
        """A region by any of its forms ('광주', '광주광역시', 'Gwangju'), or None."""
        key = name.strip().casefold()
        for kind, form, region in self.rows:
            if kind == "region" and form.casefold() == key:
                return self.regions[region]
        return None


def _contains(text: str, form: str) -> bool:
    if has_hangul(form):
        return form in text
    return re.search(rf"(?<![A-Za-z]){re.escape(form)}(?![A-Za-z])", text, flags=re.IGNORECASE) is not None


def _read(name: str) -> list[tuple[int, dict[str, str]]]:
    lines = resources.files("dari.hub.search").joinpath("data").joinpath(name).read_text("utf-8").splitlines()
    body = [(n, line) for n, line in enumerate(lines, start=1) if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(line for _, line in body)
    return [(body[i + 1][0], row) for i, row in enumerate(reader)]


@functools.cache
def place_table() -> PlaceTable:
    """The shipped place table (read once per process); InputError naming file and line for a bad row."""
    regions: dict[str, Region] = {}
    for line, row in _read(REGION_NAMES_FILE):
        if not row.get("region") or not row.get("name_en") or not row.get("short_ko"):
            raise InputError(f"{REGION_NAMES_FILE} line {line}: region, name_en and short_ko are required")
        regions[row["region"]] = Region(row["region"], row["short_ko"], row["name_en"])
    rows: list[tuple[str, str, str]] = []
    for line, row in _read(PLACES_FILE):
        region, kind, form = row.get("region") or "", row.get("kind") or "", (row.get("form") or "").strip()
        if region not in regions:
            raise InputError(f"{PLACES_FILE} line {line}: region {region!r} is not in {REGION_NAMES_FILE}")
        if kind not in ("region", "hospital") or not form:
            raise InputError(f"{PLACES_FILE} line {line}: kind must be region or hospital and form non-empty")
        rows.append((kind, form, region))
    # Longest forms first: '부산대' must not be read as the region form '부산' before '양산부산대' is tried.
    rows.sort(key=lambda r: -len(r[1]))
    return PlaceTable(regions, tuple(rows))


def region_for(declared: Mapping[str, str] | None, names: Iterable[str]) -> Region | None:
    """A dataset's region: the one its record declares (any form, either language), else derived from names."""
    table = place_table()
    for value in (declared or {}).values():
        region = table.by_name(str(value))
        if region is not None:
            return region
    return table.region_of(names)
