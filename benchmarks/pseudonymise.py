"""Benchmark: table pseudonymisation (HMAC pseudonyms + per-person date shift) in rows per second.

Target on the 2-core reference machine: ≥ 1,000,000 rows/s. Pseudonyms are computed once per distinct patient
(HMAC-SHA256 in Python); the per-row work (join to the pseudonym, shift every date) runs in DuckDB.
Usage: .venv/bin/python benchmarks/pseudonymise.py [--patients 1000000] [--rows 20000000]
"""

from __future__ import annotations

import argparse
import time

import duckdb
import pyarrow as pa

from dari.privacy.pseudonymise import pseudonyms, shift_days


def main() -> None:
    """Time pseudonym derivation and the vectorised join + date shift, and print rows/s."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=20_000_000)
    args = parser.parse_args()
    key = bytes(range(32))
    ids = [f"{10_000_000 + i}" for i in range(args.patients)]

    start = time.perf_counter()
    table = pa.table(
        {
            "patient_no": ids,
            "pseudonym": pseudonyms(key, ids, prefix="P", hex_chars=20),
            "shift_days": shift_days(key, ids, 30),
        }
    )
    derive_s = time.perf_counter() - start
    print(
        f"pseudonyms + shifts for {args.patients:,} patients: {derive_s:.2f} s "
        f"({args.patients / derive_s:,.0f} patients/s)"
    )

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.register("person_map", table)
    con.execute(f"""CREATE TABLE events AS SELECT CAST(10000000 + (i % {args.patients}) AS VARCHAR) AS patient_no,
                    DATE '2018-01-01' + CAST(i % 2900 AS INTEGER) AS event_date, i AS value
                    FROM range({args.rows}) t(i)""")
    start = time.perf_counter()
    n = con.execute("""CREATE TABLE shifted AS SELECT m.pseudonym, e.event_date + m.shift_days AS event_date, e.value
                       FROM events e JOIN person_map m USING (patient_no)""").fetchall()
    del n
    shift_s = time.perf_counter() - start
    rows = con.execute("SELECT count(*) FROM shifted").fetchall()[0][0]
    print(f"join + date shift of {rows:,} event rows: {shift_s:.2f} s ({rows / shift_s:,.0f} rows/s)")
    total = derive_s + shift_s
    print(f"overall: {(rows + args.patients) / total:,.0f} rows/s (target ≥ 1,000,000 rows/s)")


if __name__ == "__main__":
    main()
