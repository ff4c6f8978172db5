"""Benchmark: k-anonymity + l-diversity over 1,000,000 rows × 5 quasi-identifiers, and k-enforcement on 200,000.

Target on the 2-core reference machine: the assessment in under 5 s.
Usage: .venv/bin/python benchmarks/risk.py [--rows 1000000] [--enforce-rows 200000] [--k 5] [--suppression 0.05]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa

from dari.privacy.risk import age_bands, assess, date_to_year, enforce_k, korean_address, postcode_prefix, suppress_only

SIDO_SIGUNGU = {
    "서울특별시": ["강남구", "서초구", "송파구", "중구", "종로구", "마포구", "노원구", "강서구"],
    "부산광역시": ["해운대구", "중구", "사하구", "부산진구"],
    "경기도": ["수원시 영통구", "성남시 분당구", "고양시 일산동구", "용인시 수지구", "화성시", "가평군"],
    "대구광역시": ["중구", "수성구", "달서구"],
    "강원특별자치도": ["춘천시", "홍천군", "원주시"],
    "세종특별자치시": [""],
}


def make_table(n: int, seed: int = 7) -> pa.Table:
    """Synthetic patients: age, sex, address, postcode, admission date (QIs) and a diagnosis (sensitive)."""
    rng = np.random.default_rng(seed)
    addresses = np.array(
        [f"{sido} {gu} 어느로 1".replace("  ", " ") for sido, gus in SIDO_SIGUNGU.items() for gu in gus]
    )
    days = rng.integers(0, 3650, n).astype("timedelta64[D]") + np.datetime64("2015-01-01")
    return pa.table(
        {
            "age": rng.integers(0, 100, n),
            "sex": rng.choice(np.array(["M", "F"]), n),
            "address": rng.choice(addresses, n),
            "postcode": np.char.zfill(rng.integers(0, 63_000, n).astype(str), 5),
            "admitted": pa.array(days, pa.date32()),
            "dx": rng.choice(np.array([f"C{i:02d}" for i in range(50)]), n),
        }
    )


def main() -> None:
    """Run both measurements and print seconds."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--enforce-rows", type=int, default=200_000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--suppression", type=float, default=0.05)
    args = parser.parse_args()
    qis = ["age", "sex", "address", "postcode", "admitted"]

    table = make_table(args.rows)
    start = time.perf_counter()
    report = assess(table, qis, sensitive="dx")
    seconds = time.perf_counter() - start
    print(f"assess: {args.rows:,} rows × {len(qis)} QIs, k + l + t + risks: {seconds:.2f} s (target < 5 s)")
    print(
        f"  k={report.k} classes={report.classes:,} l={report.l_distinct} "
        f"prosecutor avg={report.prosecutor.average_risk:.3f}"
    )

    small = make_table(args.enforce_rows, seed=8)
    hierarchies = {
        "age": age_bands((5, 10)),
        "sex": suppress_only(),
        "address": korean_address(),
        "postcode": postcode_prefix((3, 2)),
        "admitted": date_to_year(),
    }
    start = time.perf_counter()
    result = enforce_k(small, hierarchies, k=args.k, max_suppression=args.suppression, sensitive="dx")
    seconds = time.perf_counter() - start
    review = result.review
    print(f"enforce_k: {args.enforce_rows:,} rows, k={args.k}, ≤{args.suppression:.0%} suppressed: {seconds:.2f} s")
    print(
        f"  levels={result.levels} suppressed={result.suppressed:,} precision loss={result.loss.precision:.3f} "
        f"k after={result.after.k} nodes {review.nodes_evaluated}/{review.nodes_total}"
    )


if __name__ == "__main__":
    main()
