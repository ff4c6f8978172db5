"""The check catalogue as data: `check_descriptions.csv` (what to check) and `thresholds.csv` (how strictly).

Users may pass their own files. A checks file *replaces* the built-in list (leave a row out to skip a check);
a thresholds file is laid *over* the built-in rows: a user row replaces the built-in row with the same key
(check, table, field, concept, unit) and any other row is added.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

from dari.cdm.schema import cdm_tables
from dari.errors import InputError
from dari.quality.sql import TEMPLATES

LEVELS = ("table", "field", "concept")
CONTEXTS = ("Verification", "Validation")
CATEGORIES = ("Conformance", "Completeness", "Plausibility")
SEVERITIES = ("fatal", "convention", "characterization")
CHECK_COLUMNS = (
    "check_name",
    "level",
    "kahn_context",
    "kahn_category",
    "kahn_subcategory",
    "severity",
    "applies_to",
    "sql_template",
    "description",
)
THRESHOLD_COLUMNS = (
    "check_name",
    "table",
    "field",
    "concept_id",
    "vocabulary_id",
    "concept_code",
    "unit_concept_id",
    "unit_code",
    "threshold",
    "plausible_value_low",
    "plausible_value_high",
    "plausible_gender",
    "plausible_unit_codes",
    "grace_days",
    "note",
)


@dataclass(frozen=True, slots=True)
class CheckDescription:
    """One row of check_descriptions.csv: a kind of check and the fields it applies to."""

    check_name: str
    level: str
    kahn_context: str
    kahn_category: str
    kahn_subcategory: str
    severity: str
    applies_to: str
    sql_template: str
    description: str


@dataclass(frozen=True, slots=True)
class ConceptKey:
    """A concept named by id, or by (vocabulary_id, concept_code) to be resolved in the concept table."""

    concept_id: int | None = None
    vocabulary_id: str = ""
    concept_code: str = ""

    @property
    def label(self) -> str:
        """How reports name the concept."""
        return str(self.concept_id) if self.concept_id is not None else f"{self.vocabulary_id} {self.concept_code}"


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    """One row of thresholds.csv: a threshold (percent) and check parameters for a check and target."""

    check_name: str
    table: str = ""
    field: str = ""
    concept: ConceptKey | None = None
    unit: ConceptKey | None = None
    threshold: float | None = None
    plausible_value_low: float | None = None
    plausible_value_high: float | None = None
    plausible_gender: ConceptKey | None = None
    plausible_units: tuple[ConceptKey, ...] = ()
    grace_days: int | None = None

    @property
    def key(self) -> tuple[object, ...]:
        """Rows with equal keys override one another."""
        return (self.check_name, self.table, self.field, self.concept, self.unit)


def _read(path: Path | None, default: str, columns: tuple[str, ...]) -> tuple[str, list[dict[str, str]]]:
    if path is None:
        name = f"dari.quality/data/{default}"
        text = resources.files("dari.quality").joinpath("data", default).read_text(encoding="utf-8")
    else:
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise InputError(f"cannot read: {exc}", file=name) from exc
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in columns[:1] if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=name)
    return name, [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def _number(text: str, name: str, row: int, column: str) -> float | None:
    if not text:
        return None
    if text == "current_year":  # e.g. the upper bound of a plausible year of birth
        return float(date.today().year)
    try:
        return float(text)
    except ValueError:
        raise InputError(f"not a number: {text!r}", file=name, row=row, column=column) from None


def _concept(ident: str, vocabulary: str, code: str) -> ConceptKey | None:
    if ident:
        return ConceptKey(concept_id=int(ident))
    return ConceptKey(vocabulary_id=vocabulary, concept_code=code) if code else None


def load_check_descriptions(path: Path | None = None) -> list[CheckDescription]:
    """The built-in check list, or a user's file in the same shape."""
    from dari.quality.plan import SELECTORS  # the selector vocabulary lives with the planner

    name, rows = _read(path, "check_descriptions.csv", CHECK_COLUMNS)
    out: list[CheckDescription] = []
    for i, row in enumerate(rows, start=2):
        values = {c: row.get(c, "") for c in CHECK_COLUMNS}
        for column, allowed in (
            ("level", LEVELS),
            ("kahn_context", CONTEXTS),
            ("kahn_category", CATEGORIES),
            ("severity", SEVERITIES),
            ("sql_template", tuple(TEMPLATES)),
        ):
            if values[column] not in allowed:
                raise InputError(
                    f"{values[column]!r} is not one of {', '.join(allowed)}", file=name, row=i, column=column
                )
        target = values["applies_to"]
        table, _, field = target.partition(".")
        if target not in SELECTORS and not (table in cdm_tables() and field in cdm_tables()[table].column_names):
            raise InputError(
                f"{target!r} is neither a selector ({', '.join(SELECTORS)}) nor a CDM table.field",
                file=name,
                row=i,
                column="applies_to",
            )
        out.append(CheckDescription(**values))
    return out


def load_thresholds(path: Path | None = None) -> list[ThresholdRow]:
    """The built-in thresholds, with a user's file (same columns, any subset) laid over them."""
    rows = _parse_thresholds(None)
    if path is None:
        return rows
    merged = {r.key: r for r in rows}
    for r in _parse_thresholds(path):
        merged[r.key] = r
    return list(merged.values())


def _parse_thresholds(path: Path | None) -> list[ThresholdRow]:
    name, rows = _read(path, "thresholds.csv", THRESHOLD_COLUMNS)
    out: list[ThresholdRow] = []
    for i, row in enumerate(rows, start=2):
        get = row.get
        table, field = get("table", ""), get("field", "")
        if table and table not in cdm_tables():
            raise InputError(f"{table!r} is not a CDM table", file=name, row=i, column="table")
        if field and (not table or field not in cdm_tables()[table].column_names):
            raise InputError(f"{table}.{field} is not a CDM field", file=name, row=i, column="field")
        try:
            concept = _concept(get("concept_id", ""), get("vocabulary_id", ""), get("concept_code", ""))
            unit = _concept(get("unit_concept_id", ""), "UCUM", get("unit_code", ""))
            gender_text = get("plausible_gender", "")
            gender = _concept(gender_text if gender_text.isdigit() else "", "Gender", gender_text)
            units = tuple(
                _concept(u if u.isdigit() else "", "UCUM", u) for u in get("plausible_unit_codes", "").split("|") if u
            )
            grace = get("grace_days", "")
            out.append(
                ThresholdRow(
                    check_name=get("check_name", ""),
                    table=table,
                    field=field,
                    concept=concept,
                    unit=unit,
                    threshold=_number(get("threshold", ""), name, i, "threshold"),
                    plausible_value_low=_number(get("plausible_value_low", ""), name, i, "plausible_value_low"),
                    plausible_value_high=_number(get("plausible_value_high", ""), name, i, "plausible_value_high"),
                    plausible_gender=gender,
                    plausible_units=tuple(u for u in units if u is not None),
                    grace_days=int(grace) if grace else None,
                )
            )
        except ValueError as exc:
            raise InputError(f"bad id or number: {exc}", file=name, row=i) from None
    return out
