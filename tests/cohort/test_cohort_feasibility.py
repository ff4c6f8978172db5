"""Feasibility on the hand-checkable tiny CDM (exact counts worked out in cohort_tiny_cdm) and its protection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cohort_tiny_cdm import DM, T2DM, T2DM_WO, build_tiny_cdm, definition, item

from dari.cdm.store import CdmStore, open_store
from dari.cohort import UnknownConceptError, feasibility, parse_definition, pool_feasibility
from dari.cohort.backend import ibis_session
from dari.cohort.compile import compile_cohort
from dari.cohort.definition import ConceptSet
from dari.cohort.feasibility import protect_feasibility, unprotected_feasibility
from dari.cohort.resolve import resolve_concept_sets, resolve_definition
from dari.disclosure import DisclosureRules
from dari.errors import InputError

EXACT = DisclosureRules(min_cell=1, rounding_base=1)


def _remaining(store: CdmStore, raw: dict[str, Any]) -> tuple[int, ...]:
    return unprotected_feasibility(store, parse_definition(raw), site="tiny").remaining


def _with_rules(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return definition(inclusion_rules=rules)


def _metformin(name: str, start: int | None, end: int | None, kind: str = "at_least", count: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "domain": "drug_exposure",
        "concept_set": "metformin",
        "window": {"start_days": start, "end_days": end},
        "occurrence": {"type": kind, "count": count},
    }


def test_cohort_tiny_attrition_exact(tiny: CdmStore) -> None:
    # Execute
    raw = unprotected_feasibility(tiny, parse_definition(definition()), site="tiny")
    # Assert
    assert raw.remaining == (6, 5, 4, 3, 2)
    assert raw.steps[0] == "index event" and raw.steps[-1] == "no type 1 diabetes up to index"
    assert raw.index_steps == 3
    assert raw.by_sex == {"F": 1, "M": 1, "unknown": 0}
    assert raw.by_age_band["60-69"] == 2 and sum(raw.by_age_band.values()) == 2


def test_cohort_descendants_included(tiny: CdmStore, tiny_ibis: Any) -> None:
    # Without descendants P1's first T2DM moves to 2020-09-01 and her metformin falls outside days 0..90.
    raw = definition()
    raw["concept_sets"][0]["items"][0]["include_descendants"] = False
    assert _remaining(tiny, raw) == (6, 5, 4, 2, 1)
    backend = tiny_ibis
    sets, _ = resolve_concept_sets(backend, [ConceptSet.model_validate(definition()["concept_sets"][0])], site="t")
    assert sets["t2dm"] == (T2DM, T2DM_WO)


def test_cohort_exclude_and_kcd_mapping(tiny: CdmStore, tiny_ibis: Any) -> None:
    # Prepare
    dm_not_t1 = {
        "id": "dm",
        "items": [item("SNOMED", "73211009", descendants=True), item("SNOMED", "46635009", exclude=True)],
    }
    kcd = {"id": "kcd", "items": [item("KCD8", "E11", descendants=True)]}
    backend = tiny_ibis
    # Execute
    sets, _ = resolve_concept_sets(backend, [ConceptSet.model_validate(s) for s in (dm_not_t1, kcd)], site="t")
    # Assert: a non-standard KCD8 code stands for the SNOMED concept it maps to (with its descendants)
    assert sets["dm"] == (DM, T2DM, T2DM_WO)
    assert sets["kcd"] == (T2DM, T2DM_WO)
    raw = definition()
    raw["concept_sets"][0] = {"id": "t2dm", "items": [item("KCD8", "E11", descendants=True)]}
    assert _remaining(tiny, raw) == (6, 5, 4, 3, 2)


def _passing(store: CdmStore, rules: list[dict[str, Any]]) -> dict[str, set[int]]:
    """Persons passing each rule on its own, among those meeting every index criterion (one query for all)."""
    d = parse_definition(_with_rules(rules))
    with ibis_session(store) as backend:
        compiled = compile_cohort(backend, d, resolve_definition(backend, d, site="tiny"))
        index_steps = len(compiled.steps) - len(rules)
        ev = compiled.events.filter(compiled.events[f"step_{index_steps - 1}"])
        flags = [f"flag_{index_steps + i}" for i in range(len(rules))]
        rows = ev.select("person_id", *flags).to_pyarrow().to_pylist()
    return {
        rule["name"]: {r["person_id"] for r in rows if r[f"flag_{index_steps + i}"]} for i, rule in enumerate(rules)
    }


def test_cohort_window_bounds_inclusive(tiny: CdmStore) -> None:
    # Prepare: after the index criteria P1, P4, P5 and P8 remain (metformin days: P1 0 and 100, P4 91, P5 90,
    # P8 0, 0, 31; P4 also once before his observation period began)
    rules = [
        _metformin("0..90", 0, 90),
        _metformin("0..89 (end inclusive)", 0, 89),
        _metformin("1..90 (start inclusive)", 1, 90),
        _metformin("..90 (unbounded before)", None, 90),
        _metformin("91..91", 91, 91),
        _metformin("none before index (outside observation ignored)", None, -1, "exactly", 0),
        _metformin("100.. (unbounded after)", 100, None),
    ]
    # Execute
    passing = _passing(tiny, rules)
    # Assert
    assert passing == {
        "0..90": {1, 5, 8},
        "0..89 (end inclusive)": {1, 8},
        "1..90 (start inclusive)": {5, 8},
        "..90 (unbounded before)": {1, 5, 8},
        "91..91": {4},
        "none before index (outside observation ignored)": {1, 4, 5, 8},
        "100.. (unbounded after)": {1},
    }


def test_cohort_occurrence_counts(tiny: CdmStore) -> None:
    # Events on days 0..90: P1 1, P4 0, P5 1, P8 3 (two on the same day)
    rules = [
        _metformin(f"{kind} {count}", 0, 90, kind, count)
        for kind, count in [
            ("at_least", 2),
            ("at_least", 3),
            ("at_least", 4),
            ("exactly", 1),
            ("at_most", 1),
            ("exactly", 0),
        ]
    ]
    assert _passing(tiny, rules) == {
        "at_least 2": {8},
        "at_least 3": {8},
        "at_least 4": set(),
        "exactly 1": {1, 5},
        "at_most 1": {1, 4, 5},
        "exactly 0": {4},
    }


def test_cohort_measurement_value_and_unit(tiny: CdmStore) -> None:
    # P1: 45, 50 (mL/min/1.73m2) and 70 (mg/dL); P8: 58, 40, 41 (mL/min/1.73m2)
    unit = {"vocabulary_id": "UCUM", "concept_code": "mL/min/{1.73_m2}"}
    values = {
        "45..50 inclusive": {"gte": 45, "lte": 50, "unit": unit},
        "45..50 exclusive": {"gt": 45, "lt": 50, "unit": unit},
        "below 42": {"lt": 42},
        "60 or more, any unit": {"gte": 60},
        "60 or more, mL/min": {"gte": 60, "unit": unit},
        "mg/dL only": {"unit": {"vocabulary_id": "UCUM", "concept_code": "mg/dL"}},
    }
    rules = [
        {
            "name": name,
            "domain": "measurement",
            "concept_set": "egfr",
            "window": {"start_days": None, "end_days": None},
            "value": v,
        }
        for name, v in values.items()
    ]
    assert _passing(tiny, rules) == {
        "45..50 inclusive": {1},
        "45..50 exclusive": set(),
        "below 42": {8},
        "60 or more, any unit": {1},
        "60 or more, mL/min": set(),
        "mg/dL only": {1},
    }


def test_cohort_measurement_index(tiny: CdmStore, tiny_ibis: Any) -> None:
    raw = definition(inclusion_rules=[], exit={"type": "end_of_observation"})
    raw["index"] = {
        "domain": "measurement",
        "concept_set": "egfr",
        "value": {"gte": 30, "lt": 60, "unit": {"vocabulary_id": "UCUM", "concept_code": "mL/min/{1.73_m2}"}},
    }
    d = parse_definition(raw)
    backend = tiny_ibis
    cohort = compile_cohort(backend, d, resolve_definition(backend, d, site="tiny")).entries()
    rows = cohort.order_by("person_id").select("person_id", "cohort_start_date", "cohort_end_date").to_pyarrow()
    # first in-range eGFR of P1 (2020-02-01) and of P8 (2020-12-01); exit at the end of observation
    assert [(r["person_id"], str(r["cohort_start_date"]), str(r["cohort_end_date"])) for r in rows.to_pylist()] == [
        (1, "2020-02-01", "2022-12-31"),
        (8, "2020-12-01", "2022-12-31"),
    ]


def test_cohort_occurrence_all_events(tiny: CdmStore) -> None:
    # P7's first T2DM predates observation: "first" drops her, "all" indexes her 2016 event.
    raw = definition()
    raw["index"]["occurrence"] = "all"
    assert _remaining(tiny, raw) == (7, 6, 5, 4, 3)


def test_cohort_sex_filter_and_exit(tiny: CdmStore, tiny_ibis: Any) -> None:
    # Prepare: men only; exit 700 days after index
    raw = definition(exit={"type": "fixed_offset", "days": 700})
    raw["index"]["sex"] = ["M"]
    d = parse_definition(raw)
    backend = tiny_ibis
    # Execute
    compiled = compile_cohort(backend, d, resolve_definition(backend, d, site="tiny"))
    rows = compiled.entries().order_by("person_id").to_pyarrow().to_pylist()
    # Assert: after age P1 (F), P4, P5, P8 -> men P4, P5, P8 -> metformin P5, P8 -> no T1DM P8
    assert unprotected_feasibility(tiny, d, site="tiny").remaining == (6, 5, 4, 3, 2, 1)
    assert [(r["person_id"], str(r["cohort_start_date"]), str(r["cohort_end_date"])) for r in rows] == [
        (8, "2021-01-01", "2022-12-02")
    ]


def test_cohort_exit_clipped_to_observation(tiny: CdmStore, tiny_ibis: Any) -> None:
    d = parse_definition(definition(exit={"type": "fixed_offset", "days": 1000}))
    backend = tiny_ibis
    cohort = compile_cohort(backend, d, resolve_definition(backend, d, site="tiny")).entries().order_by("person_id")
    # P1: 2020-03-01 + 1000 days = 2022-11-26; P8: 2021-01-01 + 1000 days is past his observation end 2022-12-31
    assert [str(e) for e in cohort.cohort_end_date.to_pyarrow().to_pylist()] == ["2022-11-26", "2022-12-31"]


def test_cohort_unknown_code_reported(tiny: CdmStore) -> None:
    # Prepare
    raw = definition()
    raw["concept_sets"][1]["items"].append(item("SNOMED", "99999999"))
    raw["concept_sets"][2]["items"][0]["concept_code"] = "A10XX"
    # Execute
    with pytest.raises(UnknownConceptError) as info:
        unprotected_feasibility(tiny, parse_definition(raw), site="tiny")
    # Assert: every unknown code, with its JSON path
    assert info.value.problems == [
        "concept_sets[1].items[1]: SNOMED 99999999 not in the concept table",
        "concept_sets[2].items[0]: ATC A10XX not in the concept table",
    ]


def test_cohort_nonstandard_without_mapping_and_unknown_unit(tiny: CdmStore) -> None:
    raw = definition()
    raw["concept_sets"][1]["items"] = [item("KCD8", "E10")]
    with pytest.raises(UnknownConceptError, match=r"concept_sets\[1\]\.items\[0\]: KCD8 E10 is non-standard"):
        unprotected_feasibility(tiny, parse_definition(raw), site="tiny")
    raw = definition()
    raw["inclusion_rules"] = [
        {
            "name": "eGFR",
            "domain": "measurement",
            "concept_set": "egfr",
            "window": {"start_days": -365, "end_days": 0},
            "value": {"unit": {"vocabulary_id": "UCUM", "concept_code": "mL/min"}},
        }
    ]
    with pytest.raises(UnknownConceptError, match=r"inclusion_rules\[0\]\.value\.unit: UCUM mL/min"):
        unprotected_feasibility(tiny, parse_definition(raw), site="tiny")


def test_cohort_empty_concept_ancestor_refused(tmp_path: Path) -> None:
    store = open_store(build_tiny_cdm(tmp_path / "no_ancestors.duckdb", with_ancestors=False))
    try:
        with pytest.raises(InputError, match="concept_ancestor is empty"):
            unprotected_feasibility(store, parse_definition(definition()), site="tiny")
    finally:
        store.close()


def test_cohort_feasibility_result_protected(tiny: CdmStore) -> None:
    # Prepare
    d = parse_definition(definition())
    raw = unprotected_feasibility(tiny, d, site="tiny")
    # Execute
    protected = feasibility(tiny, d, site="tiny")
    exact = protect_feasibility(raw, d, site="tiny", rules=EXACT, age_band_years=10)
    # Assert: every tiny count is below 10, so the public result shows none of them
    counts = [protected.index_persons, protected.cohort_persons]
    counts += [c for s in protected.attrition for c in (s.remaining, s.lost) if c is not None]
    counts += [s.persons for s in protected.by_sex + protected.by_age_band]
    assert all(c.suppressed and c.value is None and c.shown == "<10" for c in counts)
    assert [s.remaining.value for s in exact.attrition] == [6, 5, 4, 3, 2]
    assert [s.lost.value if s.lost else None for s in exact.attrition] == [None, 1, 1, 1, 1]
    assert exact.index_persons.value == 4 and exact.cohort_persons.value == 2
    assert {s.stratum: s.persons.value for s in exact.by_sex} == {"F": 1, "M": 1, "unknown": None}  # 0 < min_cell 1


def test_cohort_pool_feasibility(tiny: CdmStore) -> None:
    # Prepare
    d = parse_definition(definition())
    raw = unprotected_feasibility(tiny, d, site="tiny")
    a = protect_feasibility(raw, d, site="a", rules=EXACT, age_band_years=10)
    b = protect_feasibility(raw, d, site="b", rules=DisclosureRules(), age_band_years=10)
    other = parse_definition(definition(name="other"))
    # Execute
    pooled = pool_feasibility([a, b])
    # Assert
    assert pooled.index_persons.value == 4 and pooled.index_persons.shown == "≥ 4"
    assert pooled.index_persons.upper_bound == 4 + 9
    assert pooled.attrition[1].lost is not None and pooled.attrition[1].lost.suppressed_sites == 1
    assert pooled.by_sex["unknown"].shown == "≤ 9"
    with pytest.raises(InputError, match="another definition"):
        pool_feasibility([a, protect_feasibility(raw, other, site="c", rules=EXACT, age_band_years=10)])
    with pytest.raises(InputError, match="twice"):
        pool_feasibility([a, a])
