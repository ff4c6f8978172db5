"""The seam between the raw extract and the CDM where pseudonymisation plugs in.

Whatever implements `Pseudonymiser` decides what of a patient's identity reaches the CDM: the pseudonym in
person_source_value, a per-person date shift, and the text of notes. The default keeps no identifier at all:
no source value, no shift, and note text withheld, because free text quotes names, 주민등록번호 and phone
numbers and only a de-identifier may let it through.
"""

from __future__ import annotations

from typing import Protocol

import duckdb

WITHHELD_NOTE_TEXT = "[withheld: free text is not loaded without de-identification]"


class Pseudonymiser(Protocol):
    """Builds, inside the ETL's DuckDB, the tables the CDM transform reads for identity-bearing fields."""

    name: str

    def build_person_map(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create `person_map` from `src_patients`: patient_no, person_source_value, shift_days,
        birth_precision ('day' | 'month' | 'year'), location_state, location_county, location_zip."""
        ...

    def build_note_text(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create `note_clean(note_no, note_text)` from `src_clinical_notes` and `person_map`.

        A note that keeps dates must move them by its person's `shift_days` — the offset every structured date of
        that person gets — or the gap between a note date and the visit it describes gives the shift away.
        """
        ...


class WithholdIdentifiers:
    """The default: no pseudonym, no date shift, free text withheld — nothing identifying reaches the CDM."""

    name = "withhold-identifiers"

    def build_person_map(self, con: duckdb.DuckDBPyConnection) -> None:
        """Every patient gets no source value and no date shift."""
        con.execute(
            "CREATE TEMP TABLE person_map AS SELECT patient_no, CAST(NULL AS VARCHAR) AS person_source_value, "
            "0 AS shift_days, 'day' AS birth_precision, CAST(NULL AS VARCHAR) AS location_state, "
            "CAST(NULL AS VARCHAR) AS location_county, CAST(NULL AS VARCHAR) AS location_zip FROM src_patients"
        )

    def build_note_text(self, con: duckdb.DuckDBPyConnection) -> None:
        """Every note keeps its metadata; its text is replaced by a marker."""
        con.execute(
            "CREATE TEMP TABLE note_clean AS SELECT note_no, ? AS note_text FROM src_clinical_notes",
            [WITHHELD_NOTE_TEXT],
        )
