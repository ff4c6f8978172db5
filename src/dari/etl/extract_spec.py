"""What each extract file must hold: its columns, its key, and the type each column must parse as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["text", "int", "number", "date", "datetime"]


@dataclass(frozen=True, slots=True)
class FileSpec:
    """The contract for one extract file."""

    name: str
    columns: tuple[str, ...]
    key: str | None
    types: dict[str, ColumnType]
    required: tuple[str, ...]


EXTRACT_FILES: dict[str, FileSpec] = {
    spec.name: spec
    for spec in (
        FileSpec(
            "patients",
            (
                "patient_no",
                "name",
                "name_en",
                "rrn",
                "sex",
                "birth_date",
                "phone_mobile",
                "phone_home",
                "road_address",
                "lot_address",
                "postcode",
                "email",
                "death_date",
            ),
            "patient_no",
            {"birth_date": "date", "death_date": "date"},
            ("patient_no", "sex", "birth_date"),
        ),
        FileSpec(
            "visits",
            ("visit_no", "patient_no", "visit_type", "admit_date", "discharge_date", "department"),
            "visit_no",
            {"visit_no": "int", "admit_date": "date", "discharge_date": "date"},
            ("visit_no", "patient_no", "visit_type", "admit_date"),
        ),
        FileSpec(
            "diagnoses",
            (
                "diagnosis_no",
                "visit_no",
                "patient_no",
                "diagnosis_date",
                "kcd_code",
                "diagnosis_name",
                "primary_yn",
            ),
            "diagnosis_no",
            {"diagnosis_no": "int", "visit_no": "int", "diagnosis_date": "date"},
            ("diagnosis_no", "patient_no", "diagnosis_date", "kcd_code"),
        ),
        FileSpec(
            "prescriptions",
            (
                "order_no",
                "visit_no",
                "patient_no",
                "order_date",
                "drug_code",
                "drug_name",
                "days_supply",
                "route",
            ),
            "order_no",
            {"order_no": "int", "visit_no": "int", "order_date": "date", "days_supply": "int"},
            ("order_no", "patient_no", "order_date", "drug_code"),
        ),
        FileSpec(
            "lab_results",
            (
                "result_no",
                "visit_no",
                "patient_no",
                "collected_at",
                "lab_code",
                "lab_name",
                "result_value",
                "unit",
                "ref_low",
                "ref_high",
            ),
            "result_no",
            {
                "result_no": "int",
                "visit_no": "int",
                "collected_at": "datetime",
                "ref_low": "number",
                "ref_high": "number",
            },
            ("result_no", "patient_no", "collected_at", "lab_code"),
        ),
        FileSpec(
            "procedures",
            ("procedure_no", "visit_no", "patient_no", "procedure_date", "procedure_code", "procedure_name"),
            "procedure_no",
            {"procedure_no": "int", "visit_no": "int", "procedure_date": "date"},
            ("procedure_no", "patient_no", "procedure_date", "procedure_code"),
        ),
        FileSpec(
            "clinical_notes",
            ("note_no", "visit_no", "patient_no", "written_at", "note_type", "note_text"),
            "note_no",
            {"note_no": "int", "visit_no": "int", "written_at": "datetime"},
            ("note_no", "patient_no", "written_at", "note_text"),
        ),
        FileSpec("lab_codes", ("lab_code", "lab_name", "loinc", "unit"), "lab_code", {}, ("lab_code", "loinc")),
    )
}
