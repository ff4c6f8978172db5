"""Synthetic two-hospital linkage benchmark with realistic registration errors, and precision/recall/F1."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from dari.errors import InputError
from dari.kr.gazetteer import load_name_tables
from dari.kr.romanize import romanize_name
from dari.privacy.linkage.normalise import SURNAME_VARIANTS
from dari.synth.identity import HOSPITAL_REGION_WEIGHTS, generate_identities

LINK_COLUMNS = ("name_ko", "name_en", "sex", "birth_date", "rrn", "road_address", "sido", "sigungu")

# Per-duplicate error rates, independent of each other. Orders of magnitude follow published audits of
# identifier quality in hospital registries (a few % typos, tens of % romanisation and address drift);
# they are assumptions of this benchmark, not Korean measurements.
ERROR_RATES: dict[str, float] = {
    "jamo_typo": 0.10,
    "given_syllable": 0.04,
    "romanisation": 0.30,
    "day_month_swap": 0.03,
    "day_off_by_one": 0.04,
    "rrn_missing": 0.15,
    "rrn_typo": 0.04,
    "moved": 0.15,
}
# Everyday confusions of similar vowels (ㅐ/ㅔ, ㅒ/ㅖ, ㅙ/ㅞ/ㅚ) by index in the Unicode medial order.
_CONFUSED_VOWELS = {1: 5, 5: 1, 3: 7, 7: 3, 10: 15, 15: 11, 11: 10}
_HANGUL_FIRST, _HANGUL_COUNT = 0xAC00, 11172


class Scores(NamedTuple):
    """Precision, recall and their harmonic mean F1."""

    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class LinkageBenchmark:
    """Hospital A and B identity tables and the true (a, b) row pairs of people registered at both."""

    a: pa.Table
    b: pa.Table
    truth: pa.Table


def evaluate(pairs: pa.Table, truth: pa.Table) -> Scores:
    """Precision = |P∩T|/|P|, recall = |P∩T|/|T|, F1 = 2PR/(P+R) over (a, b) row pairs (1.0 for empty sets)."""
    found = set(zip(pairs.column("a").to_pylist(), pairs.column("b").to_pylist(), strict=True))
    true = set(zip(truth.column("a").to_pylist(), truth.column("b").to_pylist(), strict=True))
    hits = len(found & true)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1)


@lru_cache(maxsize=1)
def _syllables() -> tuple[list[str], frozenset[str], dict[str, list[str]]]:
    tables = load_name_tables()
    pool = sorted({str(s) for p in tables.pools.values() for s in p.syllables})
    double = frozenset(str(s) for s in tables.surnames if len(str(s)) == 2)
    variants: dict[str, list[str]] = {}
    for variant, canonical in SURNAME_VARIANTS.items():
        if variant != canonical:
            variants.setdefault(canonical, []).append(variant)
    return pool, double, variants


def jamo_typo(name: str, rng: np.random.Generator) -> str:
    """Change one jamo (initial, vowel or final) of one syllable, preferring everyday vowel confusions."""
    i = int(rng.integers(len(name)))
    code = ord(name[i]) - _HANGUL_FIRST
    if not 0 <= code < _HANGUL_COUNT:
        return name
    initial, rest = divmod(code, 21 * 28)
    medial, final = divmod(rest, 28)
    part = int(rng.integers(3))
    if part == 0:
        initial = (initial + int(rng.integers(1, 19))) % 19
    elif part == 1:
        confused = _CONFUSED_VOWELS.get(medial)
        medial = confused if confused is not None and rng.random() < 0.7 else (medial + int(rng.integers(1, 21))) % 21
    else:
        final = (final + int(rng.integers(1, 28))) % 28
    return name[:i] + chr(_HANGUL_FIRST + (initial * 21 + medial) * 28 + final) + name[i + 1 :]


def given_syllable_error(name: str, rng: np.random.Generator) -> str:
    """Drop one syllable of a two-syllable given name, or replace one with another name syllable."""
    pool, double, _ = _syllables()
    cut = 2 if name[:2] in double else 1
    surname, given = name[:cut], name[cut:]
    if not given:
        return name
    i = int(rng.integers(len(given)))
    if len(given) >= 2 and rng.random() < 0.5:
        return surname + given[:i] + given[i + 1 :]
    return surname + given[:i] + pool[int(rng.integers(len(pool)))] + given[i + 1 :]


def romanisation_variant(name_en: str, name_ko: str, rng: np.random.Generator) -> str:
    """Another everyday spelling: surname variant (LEE→YI, PARK→BAK), hyphenated or respelled given name."""
    _, double, variants = _syllables()
    surname, _, given = name_en.partition(" ")
    options = variants.get(surname)
    if options and rng.random() < 0.6:
        surname = options[int(rng.integers(len(options)))]
    style = int(rng.integers(4))
    cut = 2 if name_ko[:2] in double else 1
    if style == 0 and len(name_ko) > cut + 1:
        given = "-".join(romanize_name(s) for s in name_ko[cut:])
    elif style == 1:
        given = given.replace("YEONG", "YOUNG").replace("EO", "U")
    elif style == 2:
        given = given.replace("U", "OO", 1)
    else:
        given = given.title()
    return f"{surname} {given}"


def rrn_typo(rrn: str, rng: np.random.Generator) -> str:
    """Change one digit of an RRN."""
    positions = [i for i, c in enumerate(rrn) if c.isdigit()]
    i = positions[int(rng.integers(len(positions)))]
    digit = (int(rrn[i]) + int(rng.integers(1, 10))) % 10
    return rrn[:i] + str(digit) + rrn[i + 1 :]


def birth_error(born: dt.date, rng: np.random.Generator, swap: bool) -> dt.date:
    """Day and month swapped where that is a real, different date; otherwise one day off either way."""
    if swap and born.day <= 12 and born.day != born.month:
        return born.replace(month=born.day, day=born.month)
    return born + dt.timedelta(days=1 if rng.random() < 0.5 else -1)


def _with_errors(row: dict[str, Any], mover: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    r = dict(row)
    hit = {name: rng.random() < p for name, p in ERROR_RATES.items()}
    if hit["romanisation"]:
        r["name_en"] = romanisation_variant(r["name_en"], r["name_ko"], rng)
    if hit["jamo_typo"]:
        r["name_ko"] = jamo_typo(r["name_ko"], rng)
    if hit["given_syllable"]:
        r["name_ko"] = given_syllable_error(r["name_ko"], rng)
    if hit["day_month_swap"] or hit["day_off_by_one"]:
        r["birth_date"] = birth_error(r["birth_date"], rng, hit["day_month_swap"])
    if hit["rrn_missing"]:
        r["rrn"] = None
    elif hit["rrn_typo"]:
        r["rrn"] = rrn_typo(r["rrn"], rng)
    if hit["moved"]:
        for column in ("road_address", "sido", "sigungu"):
            r[column] = mover[column]
    return r


def _people(n: int, rng: np.random.Generator, site: str) -> pa.Table:
    birth = np.datetime64("1935-01-01") + rng.integers(0, 31_000, n).astype("timedelta64[D]")
    sex = np.where(rng.random(n) < 0.5, "M", "F")
    weights = HOSPITAL_REGION_WEIGHTS["seoul_tertiary"]
    table = generate_identities(n, rng, region_weights=weights, birth_dates=birth, sex=sex, hospital_code=site)
    return table.select(list(LINK_COLUMNS))


def make_linkage_benchmark(n: int, overlap: float, seed: int) -> LinkageBenchmark:
    """n patients per hospital; round(overlap·n) of B are A's patients re-registered with ERROR_RATES errors."""
    if n < 1 or not 0.0 <= overlap <= 1.0:
        raise InputError("need n ≥ 1 and 0 ≤ overlap ≤ 1")
    rng = np.random.default_rng(seed)
    a = _people(n, rng, "hospital_a")
    shared = round(overlap * n)
    # Both sites draw from one catchment, so strangers in B are as alike to A's patients as real neighbours are.
    others = _people(n, rng, "hospital_b")
    a_rows = a.to_pylist()
    other_rows = others.to_pylist()
    from_a = rng.choice(n, shared, replace=False)
    movers = rng.integers(0, n, shared)
    rows = [_with_errors(a_rows[i], other_rows[m], rng) for i, m in zip(from_a.tolist(), movers.tolist(), strict=True)]
    rows += other_rows[: n - shared]
    order = rng.permutation(n)
    b = pa.Table.from_pylist([rows[k] for k in order.tolist()], schema=a.schema)
    # Row k of B came from rows[order[k]]; the first `shared` entries of rows are A's patients.
    b_of = np.empty(n, dtype=np.int64)
    b_of[order] = np.arange(n)
    truth = pa.table({"a": pa.array(from_a, pa.int64()), "b": pa.array(b_of[:shared], pa.int64())})
    return LinkageBenchmark(a=a, b=b, truth=truth)
