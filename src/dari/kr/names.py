"""Vectorised Korean personal names: surname by real frequency, given name by sex and birth cohort."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from dari.kr.gazetteer import GENERATION_START_YEARS, NameTables, load_name_tables

ONE_SYLLABLE_SHARE = 0.03
_POOL_SIZE = 4096


@dataclass(frozen=True)
class KoreanNames:
    """Parallel arrays of generated names; name_en is 'SURNAME GIVEN' as on a passport."""

    surname: npt.NDArray[np.str_]
    given: npt.NDArray[np.str_]
    name_ko: npt.NDArray[np.str_]
    surname_en: npt.NDArray[np.str_]
    given_en: npt.NDArray[np.str_]
    name_en: npt.NDArray[np.str_]


def generation_of(birth_years: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Cohort 1 (before 1960) to 4 (2000 on) used to choose given-name syllables."""
    cohort: npt.NDArray[np.int64] = np.searchsorted(GENERATION_START_YEARS, birth_years, side="right") + 1
    return cohort


def generate_names(
    male: npt.NDArray[np.bool_],
    birth_years: npt.NDArray[np.int64],
    rng: np.random.Generator,
    tables: NameTables | None = None,
) -> KoreanNames:
    """Generate random (never looked-up) Korean names for people of the given sex and birth year."""
    t = tables or load_name_tables()
    male = np.asarray(male, dtype=np.bool_)
    n = male.shape[0]
    s_idx = rng.choice(t.surnames.shape[0], n, p=t.surname_probs)
    surname, surname_en = t.surnames[s_idx], t.surname_roman[s_idx]
    cohort = generation_of(np.asarray(birth_years, dtype=np.int64))
    single = rng.random(n) < ONE_SYLLABLE_SHARE
    given = np.empty(n, dtype="U2")
    given_en = np.empty(n, dtype="U16")
    for sex_code, mask_sex in (("M", male), ("F", ~male)):
        one = t.pools[(sex_code, 0, 0)]
        rows = np.flatnonzero(mask_sex & single)
        pick = rng.choice(one.syllables.shape[0], rows.size, p=one.probs)
        given[rows], given_en[rows] = one.syllables[pick], one.roman[pick]
        for gen in range(1, len(GENERATION_START_YEARS) + 2):
            rows = np.flatnonzero(mask_sex & ~single & (cohort == gen))
            first, second = t.pools[(sex_code, gen, 1)], t.pools[(sex_code, gen, 2)]
            a = rng.choice(first.syllables.shape[0], rows.size, p=first.probs)
            b = rng.choice(second.syllables.shape[0], rows.size, p=second.probs)
            # Doubled syllables (민민) are vanishingly rare as names; nudge to a neighbour instead.
            same = first.syllables[a] == second.syllables[b]
            b = np.where(same, (b + 1) % second.syllables.shape[0], b)
            given[rows] = np.strings.add(first.syllables[a], second.syllables[b])
            given_en[rows] = np.strings.add(first.roman[a], second.roman[b])
    return KoreanNames(
        surname=surname,
        given=given,
        name_ko=np.strings.add(surname, given),
        surname_en=surname_en,
        given_en=given_en,
        name_en=np.strings.add(np.strings.add(surname_en, " "), given_en),
    )


@lru_cache(maxsize=1)
def _adult_name_pool() -> tuple[KoreanNames, KoreanNames]:
    # One vectorised draw, reused: generating a single name costs ~1 ms of numpy overhead.
    rng = np.random.default_rng(0x4B4F524541)
    years = rng.integers(1940, 1996, 2 * _POOL_SIZE)
    men = generate_names(np.ones(_POOL_SIZE, np.bool_), years[:_POOL_SIZE], rng)
    women = generate_names(np.zeros(_POOL_SIZE, np.bool_), years[_POOL_SIZE:], rng)
    return men, women


def pooled_name(male: bool, u: float) -> tuple[str, str]:
    """The adult name at uniform position u in [0, 1) of a fixed random pool, as (Korean, passport)."""
    pool = _adult_name_pool()[0 if male else 1]
    i = min(int(u * _POOL_SIZE), _POOL_SIZE - 1)
    return str(pool.name_ko[i]), str(pool.name_en[i])


def random_name(male: bool, rng: np.random.Generator) -> tuple[str, str]:
    """One random adult name as (Korean, passport romanisation), e.g. for a guardian or a doctor."""
    return pooled_name(male, float(rng.random()))
