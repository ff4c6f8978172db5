"""The SQL templates behind every check: one small set, written once for DuckDB and PostgreSQL alike.

A template is either an *aggregate* (a FROM clause plus two row predicates, so that every check sharing the
same FROM clause is counted in one scan) or a *query* (two scalar COUNT queries, run as one statement).
Templates use `str.format` syntax: `{table}`, `{field}`, `{other_field}`, `{fk_table}`, `{fk_field}` are
identifiers, validated against the CDM schema and quoted; `{p_name}` is a value, bound as `?` (a tuple binds
as `?, ?, …`). Only portable SQL: CASE, COUNT, SUM, CAST, EXTRACT(YEAR FROM …), NOT EXISTS, TRANSLATE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter
from typing import Any, Literal

from dari.cdm.schema import cdm_tables, quote_ident
from dari.cdm.version import V53_ONLY_FIELDS

TemplateKind = Literal["metadata", "aggregate", "query"]
IDENTIFIER_SLOTS = ("table", "field", "other_field", "fk_table", "fk_field")
BASE_SOURCE = "{table} t"
INTEGER_TYPES = frozenset(
    {
        "integer",
        "bigint",
        "smallint",
        "tinyint",
        "hugeint",
        "int",
        "int2",
        "int4",
        "int8",
        "ubigint",
        "uinteger",
        "usmallint",
        "utinyint",
    }
)


@dataclass(frozen=True, slots=True)
class Template:
    """One parametrised SQL shape; `needs` names tables and `table.field`s that must exist to run it."""

    name: str
    kind: TemplateKind
    violated: str = ""
    denominator: str = ""
    source: str = BASE_SOURCE
    needs: tuple[str, ...] = ()
    exempt_types: frozenset[str] = frozenset()  # column types (lower-case) for which nothing can be violated


_INTEGER_TEXT = "CAST(t.{field} AS VARCHAR)"
_NOT_INTEGER = (
    f"t.{{field}} IS NOT NULL AND (TRANSLATE(CASE WHEN {_INTEGER_TEXT} LIKE '-%'"
    f" THEN SUBSTR({_INTEGER_TEXT}, 2)"
    f" ELSE {_INTEGER_TEXT} END, '0123456789', '') <> '' OR {_INTEGER_TEXT} IN ('', '-'))"
)
_CONCEPT_SOURCE = "{table} t LEFT JOIN concept c ON c.concept_id = t.{field}"
_PERSON_SOURCE = "{table} t JOIN person p ON p.person_id = t.person_id"
_DEATH_SOURCE = (
    "{table} t JOIN (SELECT person_id, MIN(death_date) AS death_date FROM death GROUP BY person_id) d"
    " ON d.person_id = t.person_id"
)
_MEASURED = "t.{field} = {p_concept_id} AND t.unit_concept_id = {p_unit_concept_id}"
_NOT_NULL = "t.{field} IS NOT NULL"

TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("table_exists", "metadata"),
        Template("field_exists", "metadata"),
        Template("is_null", "aggregate", "t.{field} IS NULL", "1 = 1"),
        Template("not_integer", "aggregate", _NOT_INTEGER, _NOT_NULL, exempt_types=INTEGER_TYPES),
        Template("concept_zero", "aggregate", "t.{field} = 0", _NOT_NULL),
        Template(
            "end_before_start",
            "aggregate",
            "t.{field} < t.{other_field}",
            "t.{field} IS NOT NULL AND t.{other_field} IS NOT NULL",
        ),
        Template("value_outside_range", "aggregate", "t.{field} < {p_low} OR t.{field} > {p_high}", _NOT_NULL),
        Template(
            "measurement_below",
            "aggregate",
            f"{_MEASURED} AND t.value_as_number < {{p_low}}",
            f"{_MEASURED} AND t.value_as_number IS NOT NULL",
            needs=("{table}.value_as_number", "{table}.unit_concept_id"),
        ),
        Template(
            "measurement_above",
            "aggregate",
            f"{_MEASURED} AND t.value_as_number > {{p_high}}",
            f"{_MEASURED} AND t.value_as_number IS NOT NULL",
            needs=("{table}.value_as_number", "{table}.unit_concept_id"),
        ),
        Template(
            "unit_not_plausible",
            "aggregate",
            "t.{field} = {p_concept_id} AND t.value_as_number IS NOT NULL AND (t.unit_concept_id IS NULL"
            " OR t.unit_concept_id NOT IN ({p_unit_concept_ids}))",
            "t.{field} = {p_concept_id} AND t.value_as_number IS NOT NULL",
            needs=("{table}.value_as_number", "{table}.unit_concept_id"),
        ),
        Template(
            "value_missing",
            "aggregate",
            "t.{field} = {p_concept_id} AND t.value_as_number IS NULL",
            "t.{field} = {p_concept_id}",
            needs=("{table}.value_as_number",),
        ),
        Template(
            "concept_missing",
            "aggregate",
            "t.{field} <> 0 AND c.concept_id IS NULL",
            _NOT_NULL,
            _CONCEPT_SOURCE,
            ("concept",),
        ),
        Template(
            "concept_wrong_domain",
            "aggregate",
            "t.{field} <> 0 AND c.concept_id IS NOT NULL AND c.domain_id NOT IN ({p_domains})",
            _NOT_NULL,
            _CONCEPT_SOURCE,
            ("concept",),
        ),
        Template(
            "concept_not_standard",
            "aggregate",
            "t.{field} <> 0 AND c.concept_id IS NOT NULL AND (c.standard_concept IS NULL"
            " OR c.standard_concept <> 'S' OR c.invalid_reason IS NOT NULL)",
            _NOT_NULL,
            _CONCEPT_SOURCE,
            ("concept",),
        ),
        Template(
            "before_birth_year",
            "aggregate",
            "EXTRACT(YEAR FROM t.{field}) < p.year_of_birth",
            _NOT_NULL,
            _PERSON_SOURCE,
            ("person", "person.year_of_birth", "{table}.person_id"),
        ),
        Template(
            "gender_implausible",
            "aggregate",
            "t.{field} = {p_concept_id} AND p.gender_concept_id <> {p_gender_concept_id}",
            "t.{field} = {p_concept_id}",
            _PERSON_SOURCE,
            ("person", "person.gender_concept_id", "{table}.person_id"),
        ),
        Template(
            "after_death",
            "aggregate",
            "t.{field} > CAST(d.death_date AS DATE) + CAST({p_grace_days} AS INTEGER)",
            _NOT_NULL,
            _DEATH_SOURCE,
            ("death", "death.death_date", "death.person_id", "{table}.person_id"),
        ),
        Template(
            "duplicate_key",
            "query",
            "SELECT COALESCE(SUM(n), 0) FROM (SELECT COUNT(*) AS n FROM {table} GROUP BY {field}"
            " HAVING COUNT(*) > 1) dup",
            "SELECT COUNT(*) FROM {table}",
        ),
        Template(
            "foreign_key_missing",
            "query",
            "SELECT COUNT(*) FROM {table} t WHERE t.{field} IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM {fk_table} f WHERE f.{fk_field} = t.{field})",
            "SELECT COUNT(t.{field}) FROM {table} t",
            needs=("{fk_table}.{fk_field}",),
        ),
        Template(
            "outside_observation_period",
            "query",
            "SELECT COUNT(*) FROM {table} t WHERE t.{field} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM"
            " observation_period op WHERE op.person_id = t.person_id AND"
            " op.observation_period_start_date <= t.{field} AND op.observation_period_end_date >= t.{field})",
            "SELECT COUNT(t.{field}) FROM {table} t",
            needs=(
                "observation_period",
                "observation_period.person_id",
                "{table}.person_id",
                "observation_period.observation_period_start_date",
                "observation_period.observation_period_end_date",
            ),
        ),
        Template(
            "person_without_observation_period",
            "query",
            "SELECT COUNT(*) FROM person t WHERE NOT EXISTS (SELECT 1 FROM observation_period op"
            " WHERE op.person_id = t.person_id)",
            "SELECT COUNT(*) FROM person",
            needs=("observation_period", "observation_period.person_id"),
        ),
    )
}


def identifiers(slots: Mapping[str, str | None]) -> dict[str, str]:
    """Validate table and field names against the CDM schema (v5.4, or v5.3's older names) and quote them."""
    tables = cdm_tables()
    out: dict[str, str] = {}
    for slot in IDENTIFIER_SLOTS:
        name = slots.get(slot)
        if name is None:
            continue
        owner = slots.get("fk_table") if slot == "fk_field" else slots.get("table")
        if slot.endswith("table"):
            if name not in tables:
                raise ValueError(f"{name!r} is not a CDM table")
        elif owner is None or (name not in tables[owner].column_names and (owner, name) not in V53_ONLY_FIELDS):
            raise ValueError(f"{owner}.{name} is not a CDM field")
        out[slot] = quote_ident(name)
    return out


def value_names(text: str) -> list[str]:
    """The `{p_…}` parameter names a template text binds."""
    return [name[2:] for _, name, _, _ in Formatter().parse(text) if name and name.startswith("p_")]


def render(text: str, idents: Mapping[str, str], values: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Fill a template: identifiers from `idents` (quoted), each `{p_…}` as `?` with its value, in order."""
    parts: list[str] = []
    params: list[Any] = []
    for literal, name, _spec, _conv in Formatter().parse(text):
        parts.append(literal)
        if name is None:
            continue
        if name.startswith("p_"):
            value = values[name[2:]]
            items = list(value) if isinstance(value, tuple) else [value]
            parts.append(", ".join("?" for _ in items))
            params.extend(items)
        else:
            parts.append(idents[name])
    return "".join(parts), params


def needed(template: Template, slots: Mapping[str, str | None]) -> list[tuple[str, str | None]]:
    """(table, field-or-None) pairs that must exist for a check to be applicable."""
    out: list[tuple[str, str | None]] = []
    for key in ("table", "fk_table"):
        if slots.get(key):
            out.append((str(slots[key]), None))
    if slots.get("table"):
        out += [(str(slots["table"]), slots[k]) for k in ("field", "other_field") if slots.get(k)]
    if slots.get("fk_table") and slots.get("fk_field"):
        out.append((str(slots["fk_table"]), slots["fk_field"]))
    for need in template.needs:
        table, _, field = need.format(**{k: v or "" for k, v in slots.items()}).partition(".")
        out.append((table, field or None))
    return out
