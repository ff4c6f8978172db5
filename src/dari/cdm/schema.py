"""OMOP CDM v5.4 table definitions, read from the field-level data file, and DDL per SQL dialect."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Dialect = Literal["duckdb", "postgresql"]
CDM_VERSION = "v5.4"

# OHDSI publishes the CDM as a field-level table (name, type, required, keys); we keep the same shape as data
# so that DDL, loaders and quality checks all read one definition.
_FIELDS_FILE = "omop_cdm_v5.4_fields.csv"

VOCABULARY_TABLES = (
    "concept",
    "vocabulary",
    "domain",
    "concept_class",
    "concept_relationship",
    "relationship",
    "concept_synonym",
    "concept_ancestor",
    "source_to_concept_map",
    "drug_strength",
)


@dataclass(frozen=True, slots=True)
class Field:
    """One column of a CDM table."""

    table: str
    name: str
    datatype: str
    required: bool
    primary_key: bool
    fk_table: str | None
    fk_domain: str | None

    def sql_type(self, dialect: Dialect) -> str:
        """The column type as the dialect spells it."""
        base = self.datatype.lower()
        if base.startswith("varchar"):
            return "VARCHAR" if dialect == "duckdb" else base.upper()
        return {
            "integer": "INTEGER",
            "numeric": "NUMERIC",
            "date": "DATE",
            "timestamp": "TIMESTAMP",
            "text": "TEXT",
        }[base]


@dataclass(frozen=True, slots=True)
class Table:
    """One CDM table: its name and ordered fields."""

    name: str
    fields: tuple[Field, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in DDL order."""
        return tuple(f.name for f in self.fields)

    @property
    def primary_key(self) -> Field | None:
        """The single-column primary key, where the CDM declares one."""
        return next((f for f in self.fields if f.primary_key), None)

    @property
    def is_vocabulary(self) -> bool:
        """Whether the table belongs to the standardised vocabularies."""
        return self.name in VOCABULARY_TABLES

    def field(self, name: str) -> Field:
        """The field called `name`; KeyError names table and field when absent."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name}.{name} is not a CDM {CDM_VERSION} field")


@cache
def cdm_tables() -> dict[str, Table]:
    """All CDM v5.4 tables by name, in the order OHDSI lists them."""
    text = resources.files("dari.cdm").joinpath(_FIELDS_FILE).read_text(encoding="utf-8")
    grouped: dict[str, list[Field]] = {}
    for row in csv.DictReader(text.splitlines()):
        grouped.setdefault(row["cdm_table"], []).append(
            Field(
                table=row["cdm_table"],
                name=row["cdm_field"],
                datatype=row["cdm_datatype"],
                required=row["is_required"] == "Yes",
                primary_key=row["is_primary_key"] == "Yes",
                fk_table=row["fk_table"] or None,
                fk_domain=row["fk_domain"] or None,
            )
        )
    return {name: Table(name, tuple(fields)) for name, fields in grouped.items()}


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB and PostgreSQL alike (some CDM columns, e.g. `offset`, are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def create_table_sql(table: Table, dialect: Dialect, schema: str | None = None, *, primary_keys: bool = True) -> str:
    """CREATE TABLE statement for one CDM table, with NOT NULL and (optionally) the primary key."""
    cols = [f"  {quote_ident(f.name)} {f.sql_type(dialect)}{' NOT NULL' if f.required else ''}" for f in table.fields]
    pk = table.primary_key
    if pk is not None and primary_keys:
        cols.append(f"  PRIMARY KEY ({quote_ident(pk.name)})")
    qualified = f"{quote_ident(schema)}.{quote_ident(table.name)}" if schema else quote_ident(table.name)
    return f"CREATE TABLE {qualified} (\n" + ",\n".join(cols) + "\n)"


def ddl(dialect: Dialect, schema: str | None = None, *, primary_keys: bool = True) -> list[str]:
    """CREATE TABLE statements for the whole CDM v5.4 in the given dialect.

    OHDSI ships primary keys as a separate, optional script; bulk loads skip them (an index maintained row by
    row costs more than the load) and `dari cdm check` verifies uniqueness instead.
    """
    return [create_table_sql(t, dialect, schema, primary_keys=primary_keys) for t in cdm_tables().values()]
