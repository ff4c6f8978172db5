"""Benchmark: table pseudonymisation (HMAC pseudonyms + per-person date shift) in rows per second.

Target on the 2-core reference machine: ≥ 1,000,000 rows/s. Pseudonyms are computed once per distinct patient
(HMAC-SHA256 in Python); the per-row work (join to the pseudonym, shift every date) runs in DuckDB.
Usage: .venv/bin/python benchmarks/pseudonymise.py [--patients 1000000] [--rows 20000000] [--notes 2000]
`--notes N` also times the seam's note stage (`KeyedPseudonymiser.build_note_text`): N synthetic notes of N/3
persons streamed out of DuckDB and de-identified with each person's own date shift (Kiwi's load excluded).
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
    parser.add_argument("--notes", type=int, default=0)
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
    if args.notes:
        note_stage(key, args.notes)


def note_stage(key: bytes, n: int) -> None:
    """Time the note stage of the seam on `n` corpus notes, wall and CPU (the machine may be shared)."""
    from dari.privacy.ingest import site_text_cleaner
    from dari.privacy.policy import load_policy
    from dari.privacy.pseudonymise import KeyedPseudonymiser
    from dari.privacy.text.corpus import make_corpus
    from dari.privacy.text.names import kiwi

    kiwi()
    texts = [d.text for d in make_corpus(n, 7)]
    ids = [str(10_000_000 + i % max(n // 3, 1)) for i in range(n)]
    people = sorted(set(ids))
    con = duckdb.connect()
    con.register("_n", pa.table({"note_no": list(range(1, n + 1)), "patient_no": ids, "note_text": texts}))
    con.execute("CREATE TEMP TABLE src_clinical_notes AS SELECT * FROM _n")
    shifts = shift_days(key, people, 30)
    con.register("_p", pa.table({"patient_no": people, "person_source_value": people, "shift_days": shifts}))
    con.execute("CREATE TEMP TABLE person_map AS SELECT * FROM _p")
    policy = load_policy()
    seam = KeyedPseudonymiser(key, policy, site_text_cleaner(key, policy))
    wall, cpu = time.perf_counter(), time.process_time()
    seam.build_note_text(con)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rate = n / wall
    print(f"note stage, {n:,} notes of {len(people):,} persons: {wall:.2f} s ({rate:,.0f} notes/s; CPU {cpu:.2f} s)")


if __name__ == "__main__":
    main()
