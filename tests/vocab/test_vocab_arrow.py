"""The vocabulary as CDM v5.4 Arrow tables loads into a DuckDB CDM and keeps its foreign keys."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from dari.cdm.schema import cdm_tables
from dari.cdm.store import create_cdm_schema
from dari.vocab import shipped_vocabulary

TABLES = ("concept", "vocabulary", "domain", "concept_class", "relationship", "concept_relationship",
          "concept_synonym", "concept_ancestor")  # fmt: skip


@pytest.fixture(scope="module")
def cdm() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_cdm_schema(con)
    for name, table in shipped_vocabulary().to_arrow().items():
        con.register("incoming", table)
        con.execute(f"INSERT INTO {name} SELECT * FROM incoming")
        con.unregister("incoming")
    return con


def test_to_arrow_tables_have_exact_cdm_columns_and_types() -> None:
    tables = shipped_vocabulary().to_arrow()
    assert set(tables) == set(TABLES)
    for name, table in tables.items():
        assert tuple(table.column_names) == cdm_tables()[name].column_names
    assert tables["concept"].schema.field("valid_start_date").type == pa.date32()
    assert tables["concept"].schema.field("concept_id").type == pa.int32()


def test_to_arrow_rows_load_into_duckdb_cdm(cdm: duckdb.DuckDBPyConnection) -> None:
    n = cdm.execute("SELECT count(*) FROM concept").fetchone()
    assert n is not None and n[0] == shipped_vocabulary().to_arrow()["concept"].num_rows


@pytest.mark.parametrize(
    ("table", "column", "target", "target_column"),
    [
        ("concept", "domain_id", "domain", "domain_id"),
        ("concept", "vocabulary_id", "vocabulary", "vocabulary_id"),
        ("concept", "concept_class_id", "concept_class", "concept_class_id"),
        ("vocabulary", "vocabulary_concept_id", "concept", "concept_id"),
        ("domain", "domain_concept_id", "concept", "concept_id"),
        ("concept_class", "concept_class_concept_id", "concept", "concept_id"),
        ("relationship", "relationship_concept_id", "concept", "concept_id"),
        ("relationship", "reverse_relationship_id", "relationship", "relationship_id"),
        ("concept_relationship", "concept_id_1", "concept", "concept_id"),
        ("concept_relationship", "concept_id_2", "concept", "concept_id"),
        ("concept_relationship", "relationship_id", "relationship", "relationship_id"),
        ("concept_synonym", "concept_id", "concept", "concept_id"),
        ("concept_synonym", "language_concept_id", "concept", "concept_id"),
        ("concept_ancestor", "ancestor_concept_id", "concept", "concept_id"),
        ("concept_ancestor", "descendant_concept_id", "concept", "concept_id"),
    ],
)
def test_foreign_key_has_no_orphans(
    cdm: duckdb.DuckDBPyConnection, table: str, column: str, target: str, target_column: str
) -> None:
    orphans = cdm.execute(
        f"SELECT count(*) FROM {table} t LEFT JOIN {target} x ON t.{column} = x.{target_column} "
        f"WHERE x.{target_column} IS NULL"
    ).fetchone()
    assert orphans == (0,)


def test_concept_relationship_has_reverse_of_every_row(cdm: duckdb.DuckDBPyConnection) -> None:
    missing = cdm.execute(
        "SELECT count(*) FROM concept_relationship r JOIN relationship d USING (relationship_id) "
        "LEFT JOIN concept_relationship b ON b.concept_id_1 = r.concept_id_2 "
        "AND b.concept_id_2 = r.concept_id_1 "
        "AND b.relationship_id = d.reverse_relationship_id WHERE b.concept_id_1 IS NULL"
    ).fetchone()
    assert missing == (0,)
    subsumes = cdm.execute("SELECT count(*) FROM concept_relationship WHERE relationship_id = 'Subsumes'").fetchone()
    assert subsumes is not None and subsumes[0] > 0


def test_korean_synonyms_carry_korean_language_concept(cdm: duckdb.DuckDBPyConnection) -> None:
    rows = cdm.execute(
        "SELECT l.concept_code FROM concept_synonym s JOIN concept l ON l.concept_id = s.language_concept_id "
        "WHERE s.concept_synonym_name = '만성 콩팥병'"
    ).fetchall()
    assert rows == [("ko",)]


def test_concept_ancestor_marks_each_concept_its_own_ancestor(cdm: duckdb.DuckDBPyConnection) -> None:
    bad = cdm.execute(
        "SELECT count(*) FROM concept c LEFT JOIN concept_ancestor a ON a.ancestor_concept_id = c.concept_id "
        "AND a.descendant_concept_id = c.concept_id AND a.min_levels_of_separation = 0 "
        "WHERE c.standard_concept = 'S' AND a.ancestor_concept_id IS NULL"
    ).fetchone()
    assert bad == (0,)
