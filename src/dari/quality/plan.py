"""From the catalogue to concrete checks: each description row is expanded over the CDM field table."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dari.cdm.schema import Field, Table, cdm_tables
from dari.quality.catalog import CheckDescription, ConceptKey, ThresholdRow


@dataclass(frozen=True, slots=True)
class Target:
    """Where one check looks: a table, maybe a field, and a field it is compared with or refers to."""

    table: str
    field: str | None = None
    other_field: str | None = None
    fk_table: str | None = None
    fk_field: str | None = None


@dataclass(slots=True)
class CheckInstance:
    """One check to run: a catalogue row applied to one target, with its threshold and parameters."""

    check: CheckDescription
    target: Target
    threshold: float
    values: dict[str, Any] = field(default_factory=dict)
    concepts: dict[str, ConceptKey | tuple[ConceptKey, ...]] = field(default_factory=dict)

    @property
    def slots(self) -> dict[str, str | None]:
        """Identifier slots for the SQL template."""
        t = self.target
        return {
            "table": t.table,
            "field": t.field,
            "other_field": t.other_field,
            "fk_table": t.fk_table,
            "fk_field": t.fk_field,
        }


# Person-linked tables whose dates are events in a patient's life, and those that are not clinical events.
_NOT_LIFE_EVENTS = {"death"}
_NOT_CLINICAL_EVENTS = {"death", "observation_period", "payer_plan_period"}
_END = re.compile(r"^(.*)_end_(date|datetime)$")


def _fields(pred: Callable[[Table, Field], bool]) -> Iterator[tuple[Table, Field]]:
    for table in cdm_tables().values():
        for f in table.fields:
            if pred(table, f):
                yield table, f


def _person_linked(table: Table) -> bool:
    return any(f.name == "person_id" and f.fk_table == "person" for f in table.fields)


def _event_dates(exclude: set[str]) -> Callable[[], list[Target]]:
    def select() -> list[Target]:
        return [
            Target(t.name, f.name)
            for t, f in _fields(
                lambda t, f: (
                    _person_linked(t)
                    and t.name not in exclude
                    and f.datatype == "date"
                    and "_end_" not in f.name
                    and not f.name.startswith("verbatim")
                )
            )
        ]

    return select


def _end_dates() -> list[Target]:
    out = []
    for table, f in _fields(lambda t, f: bool(_END.match(f.name))):
        m = _END.match(f.name)
        assert m is not None
        for start in (f"{m[1]}_start_{m[2]}", f"{m[1]}_{m[2]}"):
            if start in table.column_names:
                out.append(Target(table.name, f.name, other_field=start))
                break
    return out


def _standard_concept(t: Table, f: Field) -> bool:
    return (
        f.fk_table == "concept"
        and not t.is_vocabulary
        and f.name.endswith("_concept_id")
        and not f.name.endswith("_source_concept_id")
        and "event_field" not in f.name
    )


def _foreign_key(f: Field) -> Target:
    fk = cdm_tables()[f.fk_table or ""].primary_key
    return Target(f.table, f.name, fk_table=f.fk_table, fk_field=fk.name if fk else None)


SELECTORS: dict[str, Callable[[], list[Target]]] = {
    "tables": lambda: [Target(t) for t in cdm_tables()],
    "fields": lambda: [Target(t.name, f.name) for t, f in _fields(lambda t, f: True)],
    "integer_fields": lambda: [Target(t.name, f.name) for t, f in _fields(lambda t, f: f.datatype == "integer")],
    "required_fields": lambda: [Target(t.name, f.name) for t, f in _fields(lambda t, f: f.required)],
    "optional_fields": lambda: [Target(t.name, f.name) for t, f in _fields(lambda t, f: not f.required)],
    "primary_keys": lambda: [Target(t.name, f.name) for t, f in _fields(lambda t, f: f.primary_key)],
    "foreign_keys": lambda: [
        _foreign_key(f)
        for _, f in _fields(
            lambda t, f: f.fk_table not in (None, "concept") and cdm_tables()[f.fk_table or ""].primary_key is not None
        )
    ],
    "concept_fields": lambda: [Target(t.name, f.name) for t, f in _fields(lambda t, f: f.fk_table == "concept")],
    "domain_fields": lambda: [Target(t.name, f.name) for t, f in _fields(lambda t, f: f.fk_domain is not None)],
    "standard_concept_fields": lambda: [Target(t.name, f.name) for t, f in _fields(_standard_concept)],
    "end_date_fields": _end_dates,
    "person_event_dates": _event_dates(set()),
    "life_event_dates": _event_dates(_NOT_LIFE_EVENTS),
    "clinical_event_dates": _event_dates(_NOT_CLINICAL_EVENTS),
    "thresholds": lambda: [],  # one check per concept-keyed row of thresholds.csv
}


def _lookup(rows: list[ThresholdRow], target: Target) -> ThresholdRow | None:
    """The most specific concept-less row: table and field, then table, then the check's default."""
    for table, fld in ((target.table, target.field or ""), (target.table, ""), ("", "")):
        for row in rows:
            if row.concept is None and row.table == table and row.field == fld:
                return row
    return None


def _instance(
    check: CheckDescription, target: Target, row: ThresholdRow | None, default: ThresholdRow | None
) -> CheckInstance:
    threshold = next((r.threshold for r in (row, default) if r and r.threshold is not None), 0.0)
    inst = CheckInstance(check, target, threshold)
    if row is not None:
        inst.values = {
            "low": row.plausible_value_low,
            "high": row.plausible_value_high,
            "grace_days": row.grace_days,
        }
        for name, key in (
            ("concept_id", row.concept),
            ("unit_concept_id", row.unit),
            ("gender_concept_id", row.plausible_gender),
        ):
            if key is not None:
                inst.concepts[name] = key
        if row.plausible_units:
            inst.concepts["unit_concept_ids"] = row.plausible_units
    if target.field is not None:
        domain = cdm_tables()[target.table].field(target.field).fk_domain
        if domain:
            inst.values["domains"] = tuple(dict.fromkeys((domain, domain.replace("_", " "))))
    return inst


def build_plan(checks: list[CheckDescription], thresholds: list[ThresholdRow]) -> list[CheckInstance]:
    """Every check to run, in catalogue order."""
    plan: list[CheckInstance] = []
    for check in checks:
        rows = [r for r in thresholds if r.check_name == check.check_name]
        default = _lookup(rows, Target(""))
        if check.applies_to == "thresholds":
            for row in rows:
                if row.concept is not None and row.table and row.field:
                    plan.append(_instance(check, Target(row.table, row.field), row, default))
            continue
        if check.applies_to in SELECTORS:
            targets = SELECTORS[check.applies_to]()
        else:
            table, _, fld = check.applies_to.partition(".")
            targets = [Target(table, fld)]
        for target in targets:
            plan.append(_instance(check, target, _lookup(rows, target), default))
    return plan
