"""Reading any CDM: the declared version, the one sex mapping and the reference date, on small real DuckDB files."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from dari.cdm.concepts import FEMALE, MALE, count_by_sex, gender_ids, sex_case_sql, sex_codes
from dari.cdm.reference import parse_reference_date, reference_date
from dari.cdm.store import DuckDbStore
from dari.cdm.version import field_name, parse_version, read_cdm_version, require_supported
from dari.errors import InputError, StoreError


def _store(*statements: str) -> DuckDbStore:
    con = duckdb.connect()
    for sql in statements:
        con.execute(sql)
    return DuckDbStore(con=con, label="memory")


@pytest.mark.parametrize(
    ("declared", "version"),
    [("v5.3.1", "v5.3"), ("5.3", "v5.3"), ("CDM v5.4.0", "v5.4"), ("v5.4", "v5.4"), ("6.0", None), ("x", None)],
)
def test_parse_version_reads_what_etls_write(declared: str, version: str | None) -> None:
    assert parse_version(declared) == version


def test_read_cdm_version_notes_a_missing_declaration_and_refuses_an_unknown_one() -> None:
    # Prepare
    none = _store("CREATE TABLE person (person_id INT)")
    v6 = _store("CREATE TABLE cdm_source (CDM_VERSION VARCHAR)", "INSERT INTO cdm_source VALUES ('v6.0')")
    # Execute
    missing, unknown = read_cdm_version(none), read_cdm_version(v6)
    # Assert
    assert (missing.declared, missing.checked_as) == (None, "v5.4") and "cdm_source" in (missing.note or "")
    with pytest.raises(StoreError, match=r"cdm_source\.cdm_version"):
        require_supported(unknown)


def test_field_name_maps_v54_fields_to_v53() -> None:
    assert field_name("visit_occurrence", "admitted_from_concept_id", "v5.3") == "admitting_source_concept_id"
    assert field_name("measurement", "measurement_event_id", "v5.3") is None
    assert field_name("episode", "episode_id", "v5.3") is None
    assert field_name("person", "gender_concept_id", "v5.3") == "gender_concept_id"
    assert field_name("visit_occurrence", "admitted_from_concept_id", "v5.4") == "admitted_from_concept_id"


def test_sex_codes_join_athena_ids_and_a_sites_local_gender_concepts() -> None:
    # Prepare: a local vocabulary (ids > 2e9, as dari's synthetic sites) and persons of both kinds
    store = _store(
        "CREATE TABLE concept (concept_id BIGINT, vocabulary_id VARCHAR, concept_code VARCHAR)",
        "INSERT INTO concept VALUES (2000000001, 'Gender', 'M'), (2000000002, 'Gender', 'F'), (8551, 'Gender', 'U')",
        "CREATE TABLE person (gender_concept_id BIGINT)",
        f"INSERT INTO person VALUES ({MALE}), ({FEMALE}), (2000000001), (2000000002), (2000000002), (0), (NULL)",
    )
    # Execute
    codes = sex_codes(store)
    rows = store.query(f"SELECT {sex_case_sql('gender_concept_id', codes)}, count(*) FROM person GROUP BY 1")
    # Assert
    assert gender_ids(codes) == ([MALE, 2000000001], [FEMALE, 2000000002])
    assert dict(rows) == {"M": 2, "F": 3, "unknown": 2}
    assert count_by_sex([(FEMALE, 4), (None, 1), (8551, 2)], codes) == {"F": 4, "M": 0, "unknown": 3}


def test_reference_date_defaults_to_the_observation_end() -> None:
    store = _store(
        "CREATE TABLE observation_period (observation_period_end_date DATE)",
        "INSERT INTO observation_period VALUES ('2019-07-03'), ('2001-01-01')",
    )
    assert reference_date(store) == date(2019, 7, 3)
    assert reference_date(store, date(2010, 1, 1)) == date(2010, 1, 1)
    assert parse_reference_date("2020-02-29") == date(2020, 2, 29)
    with pytest.raises(InputError, match="--reference-date"):
        parse_reference_date("03/07/2019")
