"""Cross-file checks of an Athena download, run in the work database after every file has been read.

Hard references must hold in any consistent download; a fault there names the file, line and column. Soft
references are counted and reported: trimmed vocabularies (OHDSI's Eunomia, subsets made for tests) keep
ancestors, language and metadata concepts outside their concept subset, and stay usable. `strict` makes soft
references hard.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dari.cdm.schema import quote_ident
from dari.errors import InputError
from dari.vocab.athena_read import athena_file_name


@dataclass(frozen=True)
class Reference:
    """`table.column` must name a row of `ref_table.ref_column`."""

    table: str
    column: str
    ref_table: str
    ref_column: str
    hard: bool


REFERENCES = (
    Reference("concept", "domain_id", "domain", "domain_id", hard=True),
    Reference("concept", "vocabulary_id", "vocabulary", "vocabulary_id", hard=True),
    Reference("concept", "concept_class_id", "concept_class", "concept_class_id", hard=True),
    Reference("concept_relationship", "concept_id_1", "concept", "concept_id", hard=True),
    Reference("concept_relationship", "concept_id_2", "concept", "concept_id", hard=True),
    Reference("concept_relationship", "relationship_id", "relationship", "relationship_id", hard=True),
    Reference("concept_synonym", "concept_id", "concept", "concept_id", hard=True),
    Reference("concept_ancestor", "ancestor_concept_id", "concept", "concept_id", hard=False),
    Reference("concept_ancestor", "descendant_concept_id", "concept", "concept_id", hard=False),
    Reference("concept_synonym", "language_concept_id", "concept", "concept_id", hard=False),
    Reference("drug_strength", "drug_concept_id", "concept", "concept_id", hard=False),
    Reference("drug_strength", "ingredient_concept_id", "concept", "concept_id", hard=False),
    Reference("vocabulary", "vocabulary_concept_id", "concept", "concept_id", hard=False),
    Reference("domain", "domain_concept_id", "concept", "concept_id", hard=False),
    Reference("concept_class", "concept_class_concept_id", "concept", "concept_id", hard=False),
    Reference("relationship", "relationship_concept_id", "concept", "concept_id", hard=False),
    Reference("relationship", "reverse_relationship_id", "relationship", "relationship_id", hard=False),
)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def check_references(con: duckdb.DuckDBPyConnection, files: dict[str, str], *, strict: bool = False) -> list[str]:
    """Check every reference between the `athena_*` tables; raise on a hard fault, return soft findings."""
    warnings: list[str] = []
    for ref in REFERENCES:
        if _count(con, f"SELECT count(*) FROM athena_{ref.table}") == 0:
            continue
        if _count(con, f"SELECT count(*) FROM athena_{ref.ref_table}") == 0:
            # An empty metadata file (Eunomia ships CONCEPT_CLASS.csv header-only) cannot be checked against.
            if ref.hard:
                warnings.append(f"{athena_file_name(ref.ref_table)} has no rows: {ref.table}.{ref.column} not checked")
            continue
        col, ref_col = quote_ident(ref.column), quote_ident(ref.ref_column)
        orphans = (
            f"FROM athena_{ref.table} t WHERE t.{col} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM athena_{ref.ref_table} r WHERE r.{ref_col} = t.{col})"
        )
        n = _count(con, f"SELECT count(*) {orphans}")
        if n == 0:
            continue
        if ref.hard or strict:
            first = con.execute(f"SELECT t._line, t.{col} {orphans} ORDER BY t._line LIMIT 1").fetchone()
            assert first is not None  # n > 0
            raise InputError(
                f"{ref.column} {first[1]} is not in {athena_file_name(ref.ref_table)} ({n} such rows)",
                file=files.get(ref.table, athena_file_name(ref.table)),
                row=int(first[0]),
                column=ref.column,
            )
        warnings.append(
            f"{n} rows of {athena_file_name(ref.table)} name a {ref.column} that "
            f"{athena_file_name(ref.ref_table)} lacks"
        )
    return warnings
