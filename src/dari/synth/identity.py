"""Vectorised synthetic Korean patient identities (names, RRNs, phones, addresses, MRNs, e-mail)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from dari.errors import InputError
from dari.kr.gazetteer import Gazetteer, load_gazetteer
from dari.kr.names import generate_names
from dari.kr.phone import generate_landlines, generate_mobiles
from dari.kr.rrn import generate_rrns, sex_is_male
from dari.kr.vecstr import ascii_lower, ascii_rows_to_str, join, small_ints_to_str, to_arrow_strings

Strs = npt.NDArray[np.str_]

IDENTITY_COLUMNS: tuple[str, ...] = (
    "patient_no", "name_ko", "name_en", "sex", "birth_date", "rrn", "phone_mobile", "phone_home",
    "road_address", "lot_address", "postcode", "sido", "sigungu", "email",
)  # fmt: skip

# Catchments of the three reference hospitals; '*' spreads its weight over all other 시/도 by population.
HOSPITAL_REGION_WEIGHTS: dict[str, dict[str, float]] = {
    "seoul_tertiary": {"서울": 0.55, "경기": 0.28, "인천": 0.07, "*": 0.10},
    "busan_regional": {"부산": 0.68, "경남": 0.17, "울산": 0.10, "*": 0.05},
    "gwangju_community": {"광주": 0.70, "전남": 0.22, "전북": 0.05, "*": 0.03},
}

MISSING_MOBILE = 0.03
MISSING_HOME = 0.40
EMAIL_SHARE = 0.20
POST_2020_RRN_FROM = np.datetime64("2020-10-01", "D")
_EMAIL_DOMAINS = ("naver.com", "gmail.com", "daum.net", "hanmail.net", "kakao.com", "nate.com")
_EMAIL_DOMAIN_P = (0.45, 0.25, 0.12, 0.08, 0.05, 0.05)


def sido_probabilities(region_weights: Mapping[str, float], gazetteer: Gazetteer) -> npt.NDArray[np.float64]:
    """Normalised per-시/도 probabilities from weights keyed by full or short 시/도 name (plus '*')."""
    p = np.zeros(gazetteer.sido.shape[0])
    for name, weight in region_weights.items():
        if weight < 0:
            raise InputError(f"negative region weight for {name!r}")
        if name != "*":
            p[gazetteer.sido_index(name)] += weight
    rest = region_weights.get("*", 0.0)
    if rest:
        others = p == 0
        p[others] += rest * gazetteer.sido_population[others] / gazetteer.sido_population[others].sum()
    if p.sum() <= 0:
        raise InputError("region weights must contain a positive weight")
    result: npt.NDArray[np.float64] = p / p.sum()
    return result


def _pick_within(
    start: npt.NDArray[np.int64], count: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Uniform index into per-row slices [start, start + count) of a flattened table."""
    picked: npt.NDArray[np.int64] = start + (rng.random(start.shape[0]) * count).astype(np.int64)
    return picked


def generate_addresses(sido_p: npt.NDArray[np.float64], n: int, rng: np.random.Generator) -> dict[str, Strs]:
    """Road (도로명) and lot (지번) addresses, postcode, 시/도 and 시/군/구 for n people."""
    g = load_gazetteer()
    sido = rng.choice(sido_p.shape[0], n, p=sido_p)
    sg = np.empty(n, dtype=np.int64)
    for s in np.flatnonzero(sido_p):
        rows = np.flatnonzero(sido == s)
        members = np.flatnonzero(g.sigungu_sido == s)
        weights = g.sigungu_population[members]
        sg[rows] = members[rng.choice(members.size, rows.size, p=weights / weights.sum())]
    road = g.roads[_pick_within(g.road_start[sg], g.road_count[sg], rng)]
    # Side streets are named after their parent road plus a number: 테헤란로8길, 도산대로45길.
    side = np.strings.endswith(road, "로") & (rng.random(n) < 0.35)
    road = np.where(side, join(road, small_ints_to_str(rng.integers(1, 60, n)), "길"), road)
    building = np.minimum(1 + rng.exponential(80.0, n).astype(np.int64), 999)
    num = small_ints_to_str
    building_s = np.where(rng.random(n) < 0.15, join(num(building), "-", num(rng.integers(1, 30, n))), num(building))
    dong = g.dongs[_pick_within(g.dong_start[sg], g.dong_count[sg], rng)]
    detail_kind = rng.random(n)
    unit = np.strings.zfill(num(rng.integers(1, 5, n)), 2)
    flat = join(", ", num(rng.integers(101, 116, n)), "동 ", num(rng.integers(1, 26, n)), unit, "호")
    floor = join(", ", small_ints_to_str(rng.integers(2, 6, n)), "층")
    detail = np.where(detail_kind < 0.45, flat, np.where(detail_kind < 0.55, floor, ""))
    # Official notation adds the legal 동 in parentheses after apartment details, not always written.
    reference = np.where((detail_kind < 0.45) & (rng.random(n) < 0.3), join(" (", dong, ")"), "")
    prefix = g.sigungu_prefix[sg]
    road_address = join(prefix, " ", road, " ", building_s, detail, reference)
    lot = small_ints_to_str(rng.integers(1, 1500, n))
    lot = np.where(rng.random(n) < 0.6, join(lot, "-", small_ints_to_str(rng.integers(1, 40, n))), lot)
    lot_address = join(prefix, " ", dong, " ", lot)
    postcode = np.strings.zfill(small_ints_to_str(rng.integers(g.postcode_lo[sg], g.postcode_hi[sg] + 1)), 5)
    return {
        "road_address": road_address,
        "lot_address": lot_address,
        "postcode": postcode,
        "sido": g.sido[g.sigungu_sido[sg]],
        "sigungu": g.sigungu[sg],
    }


def generate_mrns(n: int, hospital_code: str, rng: np.random.Generator) -> Strs:
    """Unique 8-digit MRNs: a hospital-specific leading digit and a 7-digit registration serial."""
    if n > 3_000_000:
        raise InputError("at most 3,000,000 MRNs per site fit the 8-digit format")
    lead = 1 + zlib.crc32(hospital_code.encode("utf-8")) % 9
    # Serials are issued in registration order with gaps (cancelled/merged records), so increasing.
    serial = rng.permutation(int(rng.integers(0, 1_000_000)) + np.cumsum(rng.integers(1, 4, n)))
    codes = np.empty((n, 8), dtype=np.uint8)
    codes[:, 0] = 48 + lead
    for pos in range(7, 0, -1):
        codes[:, pos] = 48 + serial % 10
        serial //= 10
    return ascii_rows_to_str(codes)


def generate_emails(
    given_en: Strs, surname_en: Strs, birth_years: npt.NDArray[np.int64], rng: np.random.Generator
) -> Strs:
    """Plausible personal e-mail addresses derived from the romanised name."""
    n = given_en.shape[0]
    given, surname = ascii_lower(given_en), ascii_lower(surname_en)
    yy = np.strings.zfill(small_ints_to_str(birth_years % 100), 2)
    style = rng.integers(0, 3, n)
    local = np.where(
        style == 0,
        join(given, surname, yy),
        np.where(
            style == 1,
            join(surname, given, small_ints_to_str(rng.integers(1, 10000, n))),
            join(given, ".", surname),
        ),
    )
    domain = np.array(_EMAIL_DOMAINS)[rng.choice(len(_EMAIL_DOMAINS), n, p=_EMAIL_DOMAIN_P)]
    return join(local, "@", domain)


def generate_identities(
    n: int,
    rng: np.random.Generator,
    *,
    region_weights: Mapping[str, float],
    birth_dates: npt.NDArray[np.datetime64],
    sex: npt.NDArray[np.generic],
    hospital_code: str,
) -> pa.Table:
    """Generate n synthetic patient identities for one hospital as an Arrow table (IDENTITY_COLUMNS)."""
    dates = np.asarray(birth_dates, dtype="datetime64[D]")
    sex_arr = np.asarray(sex)
    if dates.shape != (n,) or sex_arr.shape != (n,):
        raise InputError(f"birth_dates and sex must both have length n={n}")
    male = sex_is_male(sex_arr)
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    names = generate_names(male, years, rng)
    rrn = generate_rrns(dates, male.astype(np.int64) * (8507 - 8532) + 8532, rng, dates >= POST_2020_RRN_FROM)
    sido_p = sido_probabilities(region_weights, load_gazetteer())
    address = generate_addresses(sido_p, n, rng)
    mobile = generate_mobiles(n, rng)
    home = generate_landlines(address["sido"], rng)
    email = generate_emails(names.given_en, names.surname_en, years, rng)
    columns = {
        "patient_no": to_arrow_strings(generate_mrns(n, hospital_code, rng)),
        "name_ko": to_arrow_strings(names.name_ko),
        "name_en": to_arrow_strings(names.name_en),
        "sex": to_arrow_strings(np.where(male, "M", "F")),
        "birth_date": pa.array(dates, type=pa.date32()),
        "rrn": to_arrow_strings(rrn),
        "phone_mobile": to_arrow_strings(mobile, rng.random(n) < MISSING_MOBILE),
        "phone_home": to_arrow_strings(home, rng.random(n) < MISSING_HOME),
        "road_address": to_arrow_strings(address["road_address"]),
        "lot_address": to_arrow_strings(address["lot_address"]),
        "postcode": to_arrow_strings(address["postcode"]),
        "sido": to_arrow_strings(address["sido"]),
        "sigungu": to_arrow_strings(address["sigungu"]),
        "email": to_arrow_strings(email, rng.random(n) >= EMAIL_SHARE),
    }
    return pa.table(columns)
