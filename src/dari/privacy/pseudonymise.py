"""Keyed pseudonymisation of a site's extract, plugged into the ETL seam (`dari.etl.seam.Pseudonymiser`).

Only the distinct patient numbers pass through Python (one HMAC each); everything per event row — joins,
date shifts, generalisations — runs inside DuckDB, so millions of rows move at the engine's speed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa

from dari.errors import InputError
from dari.etl.seam import WithholdIdentifiers
from dari.privacy.keys import derive
from dari.privacy.policy import Policy
from dari.privacy.risk import (
    ReviewReport,
    RiskReport,
    assess,
    date_to_year,
    enforce_k,
    korean_address,
    postcode_prefix,
    suppress_only,
)

# (person's pseudonym, person's date shift in days, text) -> de-identified text. Called once per note, a person's
# notes one after another (ordered by pseudonym, then note number), so a cleaner can keep one person's surrogates.
TextCleaner = Callable[[str, int, str], str]
_NOTE_BATCH = 10_000


def hmac_sha256_many(key: bytes, values: list[str]) -> list[bytes]:
    """HMAC-SHA256 (RFC 2104) of many values under one key, about twice as fast as `hmac.digest` per value.

    H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)) with the two padded-key blocks hashed once and copied per value;
    `hmac.digest` sets up its OpenSSL context again for every call. Tests check equality with `hmac.digest`.
    """
    block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    out = []
    for v in values:
        i = inner.copy()
        i.update(v.encode("utf-8"))
        o = outer.copy()
        o.update(i.digest())
        out.append(o.digest())
    return out


def pseudonyms(key: bytes, values: list[str], *, prefix: str, hex_chars: int) -> list[str]:
    """Keyed pseudonyms (HMAC-SHA256 under the pseudonym sub-key) of identifier values."""
    sub = derive(key, "pseudonym")
    return [prefix + mac.hex()[:hex_chars] for mac in hmac_sha256_many(sub, values)]


def shift_days(key: bytes, values: list[str], max_days: int) -> np.ndarray:
    """A per-person date offset in [-max_days, +max_days], never 0 when max_days > 0, stable for a key."""
    if max_days == 0:
        return np.zeros(len(values), dtype=np.int32)
    sub = derive(key, "date-shift")
    raw = np.array(
        [int.from_bytes(mac[:4], "big") for mac in hmac_sha256_many(sub, values)],
        dtype=np.int64,
    )
    magnitude = 1 + raw % max_days  # 1..max_days: a zero shift would leave the real dates in place
    return np.where((raw >> 31) & 1, magnitude, -magnitude).astype(np.int32)


_BIRTH_PRECISION: dict[str, Literal["year", "month"]] = {"year": "year", "month": "month"}


def birth_precision(policy: Policy) -> Literal["day", "month", "year"]:
    """How precisely the CDM keeps birth dates under `policy` (notes write dates of birth no finer)."""
    return _BIRTH_PRECISION.get(policy.generalised_to("birth_date") or "", "day")


class KeyedPseudonymiser:
    """Pseudonyms, date shifts and generalisations as a policy declares them, under a site key."""

    name = "keyed-hmac-sha256"

    def __init__(self, key: bytes, policy: Policy, text_cleaner: TextCleaner | None = None) -> None:
        self._key = key
        self.policy = policy
        self._clean = text_cleaner
        self.risk_before: RiskReport | None = None
        self.risk_after: RiskReport | None = None
        self.k_review: ReviewReport | None = None
        self.k_review_error: str | None = None

    def build_person_map(self, con: duckdb.DuckDBPyConnection) -> None:
        """person_map with pseudonym, shift, birth precision and generalised location per patient."""
        p = self.policy
        ids = [str(row[0]) for row in con.execute("SELECT patient_no FROM src_patients").fetchall()]
        table = pa.table(
            {
                "patient_no": ids,
                "person_source_value": pseudonyms(
                    self._key, ids, prefix=p.pseudonym.prefix, hex_chars=p.pseudonym.hex_chars
                ),
                "shift_days": shift_days(self._key, ids, p.dates.max_shift_days),
            }
        )
        precision = birth_precision(p)
        county = p.generalised_to("road_address")
        zip_level = p.generalised_to("postcode")
        zip_len = {"prefix3": 3, "prefix2": 2}.get(zip_level or "", 0)
        # 시/도 is the first word of a Korean address; 시/군/구 the second (plus a 구 of a large 시).
        parts = "string_split(coalesce(s.road_address, ''), ' ')"
        county_sql = (
            f"CASE WHEN len({parts}) >= 3 AND suffix({parts}[2], '시') AND suffix({parts}[3], '구') "
            f"THEN {parts}[2] || ' ' || {parts}[3] ELSE {parts}[2] END"
        )
        con.register("_pseudo", table)
        con.execute(f"""
            CREATE TEMP TABLE person_map AS
            SELECT m.patient_no, m.person_source_value, m.shift_days, '{precision}' AS birth_precision,
                   {f"nullif({parts}[1], '')" if county in ("sido", "sigungu") else "NULL"} AS location_state,
                   {f"nullif({county_sql}, '')" if county == "sigungu" else "NULL"} AS location_county,
                   {f"left(s.postcode, {zip_len})" if zip_len else "NULL"} AS location_zip
            FROM _pseudo m JOIN src_patients s USING (patient_no)""")
        con.unregister("_pseudo")
        self._assess_risk(con)

    def _assess_risk(self, con: duckdb.DuckDBPyConnection) -> None:
        # Quasi-identifiers as the extract holds them, and as the CDM will hold them after this policy.
        con.execute("""CREATE TEMP VIEW qi_before AS SELECT birth_date, sex, postcode FROM src_patients""")
        birth = "left(s.birth_date, 4)" if self.policy.generalised_to("birth_date") == "year" else "s.birth_date"
        con.execute(f"""CREATE TEMP VIEW qi_after AS
                        SELECT {birth} AS birth, s.sex, m.location_state, m.location_county, m.location_zip
                        FROM src_patients s JOIN person_map m USING (patient_no)""")
        self.risk_before = assess("qi_before", ["birth_date", "sex", "postcode"], con=con)
        self.risk_after = assess(
            "qi_after", ["birth", "sex", "location_state", "location_county", "location_zip"], con=con
        )
        target = self.policy.risk
        if self.risk_after.k < target.target_k:
            # What it would take to reach the target: the ARX-style lattice search over the raw quasi-identifiers.
            # It is a recommendation for the steward and the DRB; the CDM keeps the policy's own treatments.
            con.execute("""CREATE TEMP VIEW qi_raw AS SELECT left(birth_date, 4) AS birth, sex,
                           coalesce(road_address, '') AS address, coalesce(postcode, '') AS postcode
                           FROM src_patients""")
            hierarchies = {
                "birth": date_to_year(),
                "sex": suppress_only(),
                "address": korean_address(),
                "postcode": postcode_prefix(),
            }
            try:
                self.k_review = enforce_k(
                    "qi_raw", hierarchies, target.target_k, target.max_suppression, con=con
                ).review
            except InputError as exc:
                self.k_review_error = str(exc)

    def build_note_text(self, con: duckdb.DuckDBPyConnection) -> None:
        """note_clean: de-identified text where the policy says so and a cleaner is given, else withheld.

        Each note is cleaned with its own person's pseudonym and date shift (the shift the person's structured
        rows get), so a date in a note moves exactly as the visit it describes. Notes stream from DuckDB in
        batches, a person's notes together.
        """
        if self.policy.notes.treatment == "withhold" or self._clean is None:
            WithholdIdentifiers().build_note_text(con)
            return
        clean = self._clean
        reader = con.sql("""SELECT n.note_no, m.person_source_value, m.shift_days, n.note_text
                                FROM src_clinical_notes n JOIN person_map m USING (patient_no)
                                ORDER BY m.person_source_value, n.note_no""").to_arrow_reader(_NOTE_BATCH)
        numbers: list[pa.Array] = []
        texts: list[str] = []
        for batch in reader:
            who, shift, text = (batch.column(i).to_pylist() for i in (1, 2, 3))
            texts.extend(clean(p, s, t or "") for p, s, t in zip(who, shift, text, strict=True))
            numbers.append(batch.column(0))
        if not numbers:
            WithholdIdentifiers().build_note_text(con)
            return
        con.register("_notes", pa.table({"note_no": pa.concat_arrays(numbers), "note_text": texts}))
        con.execute("CREATE TEMP TABLE note_clean AS SELECT * FROM _notes")
        con.unregister("_notes")
