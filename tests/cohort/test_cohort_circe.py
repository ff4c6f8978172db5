"""ATLAS (OHDSI Circe) cohort expressions in and out: what imports equals the native definition, what does not is
refused naming its Circe JSON path, and dari → Circe → dari gives the same definition."""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dari.cli.app import app
from dari.cohort import load_definition, parse_definition
from dari.cohort.circe import CirceImportError, import_circe, load_circe
from dari.cohort.circe_export import CirceExportError, export_circe
from dari.cohort.definition import CohortDefinition, CohortDefinitionError, GroupRule

EXAMPLES = Path(str(resources.files("dari.cohort") / "examples"))


def _concept(cid: int, code: str, vocabulary: str, name: str = "") -> dict[str, Any]:
    """A concept as ATLAS writes it (with the captions dari does not read)."""
    return {
        "CONCEPT_ID": cid,
        "CONCEPT_NAME": name,
        "STANDARD_CONCEPT": "S",
        "STANDARD_CONCEPT_CAPTION": "Standard",
        "INVALID_REASON": "V",
        "INVALID_REASON_CAPTION": "Valid",
        "CONCEPT_CODE": code,
        "DOMAIN_ID": "Condition",
        "VOCABULARY_ID": vocabulary,
        "CONCEPT_CLASS_ID": "Clinical Finding",
    }


def _item(concept: dict[str, Any], descendants: bool = True, excluded: bool = False) -> dict[str, Any]:
    return {"concept": concept, "isExcluded": excluded, "includeDescendants": descendants, "includeMapped": False}


def _correlated(kind: str, codeset: int, start: dict[str, Any], end: dict[str, Any], type_: int, count: int) -> Any:
    return {
        "Criteria": {kind: {"CodesetId": codeset, f"{kind.removesuffix('Occurrence')}TypeExclude": False}},
        "StartWindow": {"Start": start, "End": end, "UseIndexEnd": False, "UseEventEnd": False},
        "RestrictVisit": False,
        "IgnoreObservationPeriod": False,
        "Occurrence": {"Type": type_, "Count": count, "IsDistinct": False},
    }


def _rule(name: str, *criteria: Any) -> dict[str, Any]:
    return {
        "name": name,
        "expression": {"Type": "ALL", "CriteriaList": list(criteria), "DemographicCriteriaList": [], "Groups": []},
    }


def atlas_t2dm() -> dict[str, Any]:
    """The shipped t2dm_on_metformin example as ATLAS would write it (ids, captions, defaults and all)."""
    return {
        "cdmVersionRange": ">=5.0.0",
        "ConceptSets": [
            {
                "id": 0,
                "name": "Type 2 diabetes mellitus",
                "expression": {"items": [_item(_concept(201826, "44054006", "SNOMED"))]},
            },
            {
                "id": 1,
                "name": "Type 1 diabetes mellitus",
                "expression": {"items": [_item(_concept(201254, "46635009", "SNOMED"))]},
            },
            {
                "id": 2,
                "name": "Metformin (ATC A10BA biguanides)",
                "expression": {"items": [_item(_concept(21600713, "A10BA", "ATC"))]},
            },
        ],
        "PrimaryCriteria": {
            "CriteriaList": [
                {
                    "ConditionOccurrence": {
                        "CodesetId": 0,
                        "First": True,
                        "ConditionTypeExclude": False,
                        "Age": {"Value": 18, "Op": "gte"},
                    }
                }
            ],
            "ObservationWindow": {"PriorDays": 365, "PostDays": 0},
            "PrimaryCriteriaLimit": {"Type": "First"},
        },
        "QualifiedLimit": {"Type": "First"},
        "ExpressionLimit": {"Type": "First"},
        "InclusionRules": [
            _rule(
                "metformin from index to 90 days after",
                _correlated("DrugExposure", 2, {"Days": 0, "Coeff": -1}, {"Days": 90, "Coeff": 1}, 2, 1),
            ),
            _rule(
                "no type 1 diabetes on or before index",
                _correlated("ConditionOccurrence", 1, {"Coeff": -1}, {"Days": 0, "Coeff": 1}, 0, 0),
            ),
        ],
        "EndStrategy": {"DateOffset": {"DateField": "StartDate", "Offset": 365}},
        "CensoringCriteria": [],
        "CollapseSettings": {"CollapseType": "ERA", "EraPad": 0},
        "CensorWindow": {},
    }


def test_circe_import_equals_native_definition() -> None:
    """ATLAS's JSON of the t2dm example imports to exactly the hand-written dari definition (same digest)."""
    # Prepare
    native = load_definition(EXAMPLES / "t2dm_on_metformin.json")
    # Execute
    imported = import_circe(atlas_t2dm(), name=native.name)
    # Assert: same definition once the ids (Circe's are numbers) and the description (Circe has none) are named
    renamed = native.model_copy(
        update={
            "description": "",
            "concept_sets": [cs.model_copy(update={"id": f"cs{k}"}) for k, cs in enumerate(native.concept_sets)],
            "index": native.index.model_copy(update={"concept_set": "cs0"}),
            "inclusion_rules": [
                native.inclusion_rules[0].model_copy(update={"concept_set": "cs2"}),
                native.inclusion_rules[1].model_copy(update={"concept_set": "cs1"}),
            ],
        }
    )
    assert imported == renamed
    assert imported.digest() == renamed.digest()


def _variants() -> list[CohortDefinition]:
    base = load_definition(EXAMPLES / "t2dm_on_metformin.json").model_dump(mode="json")
    out = [parse_definition(base)]
    v = copy.deepcopy(base)
    v["index"].update(occurrence="all", sex=["M", "F"], age={"min": 40, "max": 75})
    v["index"]["observation_window"] = {"prior_days": 0, "post_days": 30}
    v["inclusion_rules"][0]["window"] = {"start_days": -30, "end_days": None}
    v["inclusion_rules"][1]["occurrence"] = {"type": "at_most", "count": 2}
    v["exit"] = {"type": "end_of_observation"}
    out.append(parse_definition(v))
    m = copy.deepcopy(base)
    m["concept_sets"].append(
        {
            "id": "hba1c",
            "name": "HbA1c",
            "items": [{"vocabulary_id": "LOINC", "concept_code": "4548-4", "exclude": False}],
        }
    )
    m["index"] = {
        "domain": "measurement",
        "concept_set": "hba1c",
        "value": {"gte": 6.5, "lte": 30, "unit": {"vocabulary_id": "UCUM", "concept_code": "%"}},
        "sex": ["F"],
    }
    m["inclusion_rules"][0]["value"] = None
    m["inclusion_rules"].append(
        {
            "name": "an HbA1c above 8 later",
            "domain": "measurement",
            "concept_set": "hba1c",
            "window": {"start_days": 1, "end_days": 365},
            "value": {"gt": 8},
        }
    )
    out.append(parse_definition(m))
    return out


@pytest.mark.parametrize("definition", _variants(), ids=["t2dm", "all-sex-age", "measurement"])
def test_circe_round_trip_gives_same_definition(definition: CohortDefinition) -> None:
    """dari → Circe (through JSON text) → dari is the identity, description and concept-set ids included."""
    # Execute
    text = json.dumps(export_circe(definition))
    # Assert
    assert import_circe(json.loads(text)) == definition


def test_circe_export_refuses_range_circe_cannot_hold() -> None:
    """ckd_g3's eGFR `gte 30, lt 60` has no Circe NumericRange (bt is inclusive): refused naming index.value."""
    with pytest.raises(CirceExportError, match=r"index\.value: .*bt"):
        export_circe(load_definition(EXAMPLES / "ckd_g3.json"))


def test_circe_export_writes_concept_ids_given() -> None:
    """Concept ids come from the mapping given (a site's vocabulary); unknown ones stay null."""
    definition = load_definition(EXAMPLES / "t2dm_on_metformin.json")
    doc = export_circe(definition, {("SNOMED", "44054006"): 201826})
    items = [cs["expression"]["items"][0]["concept"]["CONCEPT_ID"] for cs in doc["ConceptSets"]]
    assert items == [201826, None, None]


def _edit(path: str, value: Any) -> dict[str, Any]:
    """atlas_t2dm() with the value at a dotted path (list indexes as numbers) replaced; None deletes it."""
    doc = atlas_t2dm()
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target: Any = doc
    for p in parents:
        target = target[p]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return doc


PRIMARY = "PrimaryCriteria.CriteriaList.0"
RULE0 = "InclusionRules.0.expression"
DRUG_ERA = {"DrugEra": {"CodesetId": 2}}
REFUSALS = [
    (
        f"{PRIMARY[:-2]}",
        [{"ConditionOccurrence": {"CodesetId": 0}}, DRUG_ERA],
        "PrimaryCriteria.CriteriaList[1].DrugEra",
    ),
    (
        f"{PRIMARY[:-2]}",
        [{"ConditionOccurrence": {"CodesetId": 0, "First": True}}, {"DrugExposure": {"CodesetId": 2}}],
        "PrimaryCriteria.CriteriaList[0].ConditionOccurrence.First",
    ),
    (
        f"{PRIMARY[:-2]}",
        [
            {"ConditionOccurrence": {"CodesetId": 0, "Age": {"Value": 18, "Op": "gte"}}},
            {"DrugExposure": {"CodesetId": 2}},
        ],
        "PrimaryCriteria.CriteriaList[1].DrugExposure",
    ),
    (PRIMARY, DRUG_ERA, "PrimaryCriteria.CriteriaList[0].DrugEra"),
    (
        f"{PRIMARY}.ConditionOccurrence.ConditionType",
        [_concept(32020, "OMOP4822", "Type Concept")],
        "PrimaryCriteria.CriteriaList[0].ConditionOccurrence.ConditionType",
    ),
    (f"{PRIMARY}.ConditionOccurrence.CodesetId", 7, "PrimaryCriteria.CriteriaList[0].ConditionOccurrence.CodesetId"),
    (
        f"{PRIMARY}.ConditionOccurrence.Age",
        {"Value": 18, "Op": "!bt", "Extent": 64},
        "PrimaryCriteria.CriteriaList[0].ConditionOccurrence.Age",
    ),
    (
        f"{PRIMARY}.ConditionOccurrence.Gender",
        [_concept(8551, "U", "Gender")],
        "PrimaryCriteria.CriteriaList[0].ConditionOccurrence.Gender[0]",
    ),
    ("ConceptSets.0.expression.items.0.includeMapped", True, "ConceptSets[0].expression.items[0].includeMapped"),
    ("ConceptSets.0.expression.items.0.concept", {"CONCEPT_ID": 201826}, "ConceptSets[0].expression.items[0].concept"),
    ("ConceptSets.1.expression.items", [], "ConceptSets[1].expression.items"),
    ("EndStrategy", {"CustomEra": {"DrugCodesetId": 2, "GapDays": 30, "Offset": 0}}, "EndStrategy.CustomEra"),
    ("EndStrategy.DateOffset.DateField", "OpEndDate", "EndStrategy.DateOffset.DateField"),
    ("CensoringCriteria", [{"Death": {}}], "CensoringCriteria[0]"),
    ("CensorWindow", {"StartDate": "2020-01-01"}, "CensorWindow.StartDate"),
    (f"{RULE0}.Groups", [{"Type": "ANY", "CriteriaList": []}], "InclusionRules[0].expression.Groups[0].CriteriaList"),
    (
        f"{RULE0}.DemographicCriteriaList",
        [{"Age": {"Value": 18, "Op": "gte"}}],
        "InclusionRules[0].expression.DemographicCriteriaList",
    ),
    (f"{RULE0}.Type", "AT_MOST", "InclusionRules[0].expression.Count"),  # AT_MOST without a Count
    (f"{RULE0}.Type", "NONE_OF", "InclusionRules[0].expression.Type"),
    (
        f"{RULE0}.CriteriaList.0.StartWindow.UseEventEnd",
        True,
        "InclusionRules[0].expression.CriteriaList[0].StartWindow.UseEventEnd",
    ),
    (
        f"{RULE0}.CriteriaList.0.EndWindow",
        {"Start": {"Days": 0, "Coeff": 1}},
        "InclusionRules[0].expression.CriteriaList[0].EndWindow",
    ),
    (f"{RULE0}.CriteriaList.0.RestrictVisit", True, "InclusionRules[0].expression.CriteriaList[0].RestrictVisit"),
    (
        f"{RULE0}.CriteriaList.0.Occurrence.IsDistinct",
        True,
        "InclusionRules[0].expression.CriteriaList[0].Occurrence.IsDistinct",
    ),
    (f"{RULE0}.CriteriaList.0.Occurrence.Count", 0, "InclusionRules[0].expression.CriteriaList[0].Occurrence.Count"),
    (
        f"{RULE0}.CriteriaList.0.Criteria.DrugExposure.Age",
        {"Value": 18, "Op": "gte"},
        "InclusionRules[0].expression.CriteriaList[0].Criteria.DrugExposure.Age",
    ),
    ("QualifiedLimit.Type", "Next", "QualifiedLimit.Type"),
    (
        f"{RULE0}",
        {
            "Type": "AT_LEAST",
            "Count": 0,
            "CriteriaList": [_correlated("DrugExposure", 2, {"Days": 0, "Coeff": 1}, {"Days": 9, "Coeff": 1}, 2, 1)],
        },
        "InclusionRules[0].expression.Count",
    ),
    (
        f"{RULE0}.CriteriaList.0.StartWindow.End",
        {"Days": 90},
        "InclusionRules[0].expression.CriteriaList[0].StartWindow.End",
    ),
    ("AdditionalCriteria", {"Type": "ALL", "CriteriaList": [], "Groups": []}, "AdditionalCriteria.CriteriaList"),
    ("Title2", "x", "Title2"),
]


@pytest.mark.parametrize(("path", "value", "where"), REFUSALS, ids=[r[2] for r in REFUSALS])
def test_circe_import_refuses_naming_element(path: str, value: Any, where: str) -> None:
    """Each unsupported element is a CirceImportError whose path is the Circe element, never another exception."""
    with pytest.raises(CirceImportError) as info:
        import_circe(_edit(path, value))
    assert info.value.path == where


def _limits(primary: str, qualified: str, expression: str, first: bool) -> dict[str, Any]:
    doc = atlas_t2dm()
    doc["PrimaryCriteria"]["PrimaryCriteriaLimit"]["Type"] = primary
    doc["QualifiedLimit"]["Type"], doc["ExpressionLimit"]["Type"] = qualified, expression
    doc["PrimaryCriteria"]["CriteriaList"][0]["ConditionOccurrence"]["First"] = first
    return doc


def test_circe_limits_map_or_refuse() -> None:
    """Limits as Circe applies them (primaryEventsQuery): the criterion's First and PrimaryCriteriaLimit First are
    dari `first` (the earliest event, then the window); a QualifiedLimit counts only with AdditionalCriteria
    (CohortExpressionQueryBuilder ignores it otherwise); a First limit before inclusion rules, an age filter
    before the primary limit, a value checked after the criterion's First, and All, All, All (several entries per
    person) are refused. Before: QualifiedLimit First without AdditionalCriteria was read as one entry per person,
    where Circe makes every event an entry."""
    additional = {"Type": "ALL", "CriteriaList": atlas_t2dm()["InclusionRules"][1]["expression"]["CriteriaList"]}
    assert import_circe(_limits("All", "All", "All", True)).index.occurrence == "first"
    assert import_circe(_limits("All", "All", "First", False)).index.occurrence == "all"
    assert import_circe(_limits("All", "First", "First", False)).index.occurrence == "all"  # no AdditionalCriteria
    no_rules = _limits("All", "First", "All", False) | {"InclusionRules": [], "AdditionalCriteria": additional}
    assert import_circe(no_rules).index.occurrence == "all"
    no_age = _limits("First", "First", "All", False)
    del no_age["PrimaryCriteria"]["CriteriaList"][0]["ConditionOccurrence"]["Age"]
    assert import_circe(no_age).index.occurrence == "first"
    assert len(import_circe(no_age).inclusion_rules) == 2
    refusals = {
        ("First", "First", "First", False): "PrimaryCriteria.PrimaryCriteriaLimit.Type",  # with Age on the criterion
        ("All", "First", "First", True): "QualifiedLimit.Type",  # with AdditionalCriteria and inclusion rules
        ("All", "All", "All", False): "ExpressionLimit.Type",
        ("All", "First", "All", False): "ExpressionLimit.Type",  # the qualified limit is ignored: every event
    }
    for (*limits, with_additional), where in refusals.items():
        doc = _limits(*limits, False) | ({"AdditionalCriteria": additional} if with_additional else {})
        with pytest.raises(CirceImportError) as info:
            import_circe(doc)
        assert info.value.path == where


def test_circe_last_limits_where_one_event_reaches_them() -> None:
    """ExpressionLimit Last (Circe: the latest included event, IncludedEventSort DESC) is the same entry as First
    when each person has one event by then (criterion First, PrimaryCriteriaLimit First, or an effective
    QualifiedLimit First without inclusion rules): imported. Where several events reach it, Last is refused
    naming the limit, as is PrimaryCriteriaLimit Last (the latest event: dari's index is the earliest)."""
    assert import_circe(_limits("All", "All", "Last", True)).index.occurrence == "first"
    assert import_circe(_limits("First", "All", "Last", True)).index.occurrence == "first"
    assert import_circe(_limits("Last", "All", "Last", True)).index.occurrence == "first"  # one event: Last = First
    additional = {"Type": "ALL", "CriteriaList": atlas_t2dm()["InclusionRules"][1]["expression"]["CriteriaList"]}
    qualified = _limits("All", "First", "Last", False) | {"InclusionRules": [], "AdditionalCriteria": additional}
    assert import_circe(qualified).index.occurrence == "all"
    refusals = {
        ("All", "All", "Last"): "ExpressionLimit.Type",
        ("All", "First", "Last"): "ExpressionLimit.Type",  # no AdditionalCriteria: the qualified limit is ignored
        ("Last", "First", "First"): "PrimaryCriteria.PrimaryCriteriaLimit.Type",
    }
    for limits, where in refusals.items():
        with pytest.raises(CirceImportError) as info:
            import_circe(_limits(*limits, False))
        assert info.value.path == where
    with pytest.raises(CirceImportError) as info:
        import_circe(_limits("All", "Last", "First", False) | {"AdditionalCriteria": additional})
    assert info.value.path == "QualifiedLimit.Type"


def test_circe_first_with_value_refused_both_ways() -> None:
    """A measurement's First with a value range: Circe checks the value on the earliest measurement, dari takes the
    earliest in range: refused on import. dari's first + value + age cannot be exported; first + value exports as
    Circe's primary limit First and comes back the same."""
    doc = atlas_t2dm()
    doc["ConceptSets"][0]["expression"]["items"][0]["concept"].update(CONCEPT_CODE="4548-4", VOCABULARY_ID="LOINC")
    doc["PrimaryCriteria"]["CriteriaList"] = [
        {"Measurement": {"CodesetId": 0, "First": True, "ValueAsNumber": {"Value": 6.5, "Op": "gte"}}}
    ]
    with pytest.raises(CirceImportError) as info:
        import_circe(doc)
    assert info.value.path == "PrimaryCriteria.CriteriaList[0].Measurement.First"
    definition = import_circe(
        doc
        | {
            "PrimaryCriteria": doc["PrimaryCriteria"]
            | {"CriteriaList": [{"Measurement": {"CodesetId": 0, "ValueAsNumber": {"Value": 6.5, "Op": "gte"}}}]}
        }
    )
    assert definition.index.occurrence == "first"
    assert import_circe(export_circe(definition)) == definition
    aged = definition.model_copy(update={"index": definition.index.model_copy(update={"age": {"min": 18}})})
    aged = parse_definition(aged.model_dump(mode="json"))
    with pytest.raises(CirceExportError, match="an age and a value"):
        export_circe(aged)


def test_circe_ignore_observation_period_round_trips() -> None:
    """IgnoreObservationPeriod (ATLAS's "all time prior") becomes the rule's ignore_observation_period, and back."""
    doc = _edit("InclusionRules.1.expression.CriteriaList.0.IgnoreObservationPeriod", True)
    definition = import_circe(doc)
    assert [r.ignore_observation_period for r in definition.inclusion_rules] == [False, True]
    assert import_circe(export_circe(definition)) == definition


def test_circe_group_of_all_splits_into_rules() -> None:
    """An ALL group of two criteria becomes two rules (same cohort; attrition shows each); ANY of one is one rule."""
    doc = atlas_t2dm()
    doc["InclusionRules"][0]["expression"]["CriteriaList"].append(
        doc["InclusionRules"].pop(1)["expression"]["CriteriaList"][0]
    )
    definition = import_circe(doc)
    assert [r.name for r in definition.inclusion_rules] == [
        "metformin from index to 90 days after (1/2)",
        "metformin from index to 90 days after (2/2)",
    ]
    doc["InclusionRules"][0]["expression"]["CriteriaList"].pop()
    doc["InclusionRules"][0]["expression"]["Type"] = "ANY"
    assert len(import_circe(doc).inclusion_rules) == 1


def test_circe_import_reads_webapi_wrapper_and_ranges(tmp_path: Path) -> None:
    """WebAPI's {name, expression: "<json text>"} reads too; eq, bt and gt map to dari's bounds."""
    doc = atlas_t2dm()
    doc["PrimaryCriteria"]["CriteriaList"][0]["ConditionOccurrence"]["Age"] = {"Value": 17, "Op": "gt"}
    (tmp_path / "c.json").write_text(json.dumps({"id": 3, "name": "wrapped", "expression": json.dumps(doc)}))
    definition = load_circe(tmp_path / "c.json")
    assert definition.name == "wrapped"
    assert definition.index.age is not None and definition.index.age.min == 18


def test_circe_import_refuses_bad_json_file(tmp_path: Path) -> None:
    """Not JSON, or not an object: an InputError naming the file, not a traceback."""
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(CirceImportError, match=r"bad\.json"):
        load_circe(tmp_path / "bad.json")


runner = CliRunner()


def test_cli_import_and_export_atlas(tmp_path: Path) -> None:
    """`dari cohort import-atlas` writes a definition dari loads; `export-atlas` writes Circe that imports back;
    a refusal exits 2 naming the element."""
    # Prepare
    (tmp_path / "atlas.json").write_text(json.dumps(atlas_t2dm()))
    # Execute
    imported = runner.invoke(
        app,
        [
            "cohort",
            "import-atlas",
            str(tmp_path / "atlas.json"),
            "--out",
            str(tmp_path / "dari.json"),
            "--name",
            "T2DM",
        ],
    )
    exported = runner.invoke(app, ["cohort", "export-atlas", str(tmp_path / "dari.json")])
    (tmp_path / "bad.json").write_text(json.dumps(_edit("EndStrategy.DateOffset.DateField", "OpEndDate")))
    refused = runner.invoke(app, ["cohort", "import-atlas", str(tmp_path / "bad.json")])
    # Assert
    assert imported.exit_code == 0, imported.output
    definition = load_definition(tmp_path / "dari.json")
    assert definition.name == "T2DM"
    assert exported.exit_code == 0, exported.output
    assert import_circe(json.loads(exported.stdout)) == definition
    assert refused.exit_code == 2
    assert "EndStrategy.DateOffset.DateField" in refused.output


def test_circe_nested_groups_import_as_one_group_rule() -> None:
    """ANY / AT_LEAST / AT_MOST of several criteria and nested Groups become one dari rule holding the group
    (types lower-cased, Count kept, criteria in order); an ALL group without nested groups still splits into
    rules (digests of existing definitions unchanged); the group exports back to the same definition."""
    # Prepare
    doc = atlas_t2dm()
    metformin, no_t1 = (r["expression"]["CriteriaList"][0] for r in doc["InclusionRules"])
    inner = {"Type": "AT_MOST", "Count": 1, "CriteriaList": [metformin, no_t1]}
    doc["InclusionRules"] = [_rule("either", metformin) | {"expression": {"Type": "ANY", "CriteriaList": [no_t1]}}]
    doc["InclusionRules"][0]["expression"]["Groups"] = [inner]
    # Execute
    definition = import_circe(doc)
    # Assert
    (rule,) = definition.inclusion_rules
    assert isinstance(rule, GroupRule) and rule.name == "either"
    assert rule.group.type == "any" and rule.group.count is None and len(rule.group.criteria) == 1
    assert rule.group.groups[0].type == "at_most" and rule.group.groups[0].count == 1
    assert [c.occurrence.type for c in rule.group.groups[0].criteria] == ["at_least", "exactly"]
    assert import_circe(export_circe(definition)) == definition
    dumped = parse_definition(json.loads(json.dumps(definition.model_dump(mode="json"))))
    assert dumped == definition and dumped.digest() == definition.digest()  # a saved definition reads back
    with pytest.raises(CohortDefinitionError) as info:
        parse_definition(
            definition.model_dump(mode="json") | {"inclusion_rules": [{"name": "x", "group": {"type": "at_least"}}]}
        )
    assert info.value.path.startswith("inclusion_rules[0].group")


def test_circe_end_date_exit_round_trips_and_keeps_digests() -> None:
    """DateOffset on EndDate imports as fixed_offset with date_field end_date and exports back; a StartDate exit
    keeps the digest it had before date_field existed (the field is left out of the canonical JSON)."""
    doc = _edit("EndStrategy.DateOffset.DateField", "EndDate")
    definition = import_circe(doc)
    assert definition.exit.type == "fixed_offset" and definition.exit.date_field == "end_date"
    assert export_circe(definition)["EndStrategy"] == {"DateOffset": {"DateField": "EndDate", "Offset": 365}}
    assert import_circe(export_circe(definition)) == definition
    start = import_circe(atlas_t2dm())
    legacy = start.model_dump(mode="json")  # the canonical JSON as written before also/ignore_op/date_field
    del legacy["exit"]["date_field"], legacy["index"]["also"]
    for rule in legacy["inclusion_rules"]:
        del rule["ignore_observation_period"]
    for item in (i for cs in legacy["concept_sets"] for i in cs["items"]):
        del item["as_is"]
    canonical = json.dumps(legacy, sort_keys=True, separators=(",", ":"))
    assert start.digest() == hashlib.sha256(canonical.encode()).hexdigest()
    assert definition.digest() != start.digest()


def test_circe_non_standard_item_imports_as_is() -> None:
    """A concept-set item ATLAS marks non-standard (STANDARD_CONCEPT "N") is matched by its own id, as Circe does,
    so it imports with `as_is` (before: refused at …concept.STANDARD_CONCEPT); standard items do not, and the
    export writes "N" back so that the round trip holds. Items without `as_is` keep their digest."""
    doc = _edit("ConceptSets.1.expression.items.0.concept.STANDARD_CONCEPT", "N")
    definition = import_circe(doc)
    assert [i.as_is for cs in definition.concept_sets for i in cs.items] == [False, True, False]
    assert export_circe(definition)["ConceptSets"][1]["expression"]["items"][0]["concept"]["STANDARD_CONCEPT"] == "N"
    assert import_circe(export_circe(definition)) == definition
    assert definition.digest() != import_circe(atlas_t2dm()).digest()
