"""Export a dari cohort definition as an OHDSI Circe cohort expression (what ATLAS imports).

`import_circe(export_circe(d)) == d` for every definition that exports. What Circe cannot carry is refused by
dari JSON path (`CirceExportError`): a measurement range with one strict and one inclusive bound, or two strict
bounds (`gte 30, lt 60`), has no single Circe NumericRange (`bt` is inclusive at both ends). dari names concepts
by code: `CONCEPT_ID` is written only when `concept_ids` gives it (e.g. from a site's vocabulary), else null,
and ATLAS needs ids to generate SQL. The definition's name, description and concept-set ids, which Circe's
expression has no place for, travel in a top-level `dari` object (Circe's `Title` carries the name too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dari.cdm.store import CdmStore
from dari.cohort.backend import cdm_table, ibis_session
from dari.cohort.circe import GENDER_IDS
from dari.cohort.definition import (
    AgeRange,
    CohortDefinition,
    ConceptRef,
    CriteriaGroup,
    GroupCriterion,
    GroupRule,
    InclusionRule,
    ValueRange,
    Window,
    rule_criteria,
)
from dari.errors import InputError

_KINDS = {
    "condition_occurrence": "ConditionOccurrence",
    "drug_exposure": "DrugExposure",
    "measurement": "Measurement",
    "procedure_occurrence": "ProcedureOccurrence",
    "observation": "Observation",
    "visit_occurrence": "VisitOccurrence",
}
_OCCURRENCE = {"exactly": 0, "at_most": 1, "at_least": 2}
ConceptIds = Mapping[tuple[str, str], int]


class CirceExportError(InputError):
    """A dari definition with a feature Circe cannot express; the message names its dari JSON path."""


def _concept(ref: ConceptRef, ids: ConceptIds) -> dict[str, Any]:
    return {
        "CONCEPT_ID": ids.get((ref.vocabulary_id, ref.concept_code)),
        "CONCEPT_CODE": ref.concept_code,
        "VOCABULARY_ID": ref.vocabulary_id,
    }


def _value(r: ValueRange, path: str) -> dict[str, Any] | None:
    low = ("gt", r.gt) if r.gt is not None else ("gte", r.gte) if r.gte is not None else None
    high = ("lt", r.lt) if r.lt is not None else ("lte", r.lte) if r.lte is not None else None
    if low and high:
        if low[0] != "gte" or high[0] != "lte":
            raise CirceExportError(
                f"{path}: Circe's two-sided range (bt) is inclusive at both ends; {low[0]} {low[1]} with "
                f"{high[0]} {high[1]} has no Circe equivalent"
            )
        return {"Value": low[1], "Op": "bt", "Extent": high[1]}
    one = low or high
    return {"Value": one[1], "Op": one[0]} if one else None


def _age(a: AgeRange) -> dict[str, Any]:
    if a.min is not None and a.max is not None:
        return {"Value": a.min, "Op": "bt", "Extent": a.max}
    return {"Value": a.min, "Op": "gte"} if a.min is not None else {"Value": a.max, "Op": "lte"}


def _criterion(domain: str, codeset: int, value: ValueRange | None, path: str, ids: ConceptIds) -> dict[str, Any]:
    body: dict[str, Any] = {"CodesetId": codeset}
    if value is not None:
        number = _value(value, path)
        if number is not None:
            body["ValueAsNumber"] = number
        if value.unit is not None:
            body["Unit"] = [_concept(value.unit, ids)]
    return {_KINDS[domain]: body}


def _window_end(days: int | None, before: bool) -> dict[str, Any]:
    if days is None:
        return {"Coeff": -1 if before else 1}  # Circe's "All days before/after"
    return {"Days": abs(days), "Coeff": -1 if days < 0 else 1}


def _window(w: Window) -> dict[str, Any]:
    return {
        "Start": _window_end(w.start_days, True),
        "End": _window_end(w.end_days, False),
        "UseIndexEnd": False,
        "UseEventEnd": False,
    }


def site_concept_ids(store: CdmStore, definition: CohortDefinition) -> dict[tuple[str, str], int]:
    """OMOP concept ids of the definition's codes in a CDM's `concept` table (codes it lacks are left out).

    Only a CDM with OHDSI's Athena vocabulary gives ids that mean the same in ATLAS; dari's synthetic sites carry
    local ids (above 2,000,000,000).
    """
    refs: list[ConceptRef] = [item for cs in definition.concept_sets for item in cs.items]
    values = [definition.index.value, *(c.value for c in definition.index.also)]
    values += [r.value for _, r in rule_criteria(definition.inclusion_rules)]
    refs += [v.unit for v in values if v is not None and v.unit is not None]
    wanted = {(r.vocabulary_id, r.concept_code) for r in refs}
    with ibis_session(store) as backend:
        c = cdm_table(backend, "concept")
        rows = (
            c.filter(
                c.vocabulary_id.isin(sorted({v for v, _ in wanted})),
                c.concept_code.isin(sorted({k for _, k in wanted})),
            )
            .select("concept_id", "vocabulary_id", "concept_code", "invalid_reason")
            .to_pyarrow()
            .to_pylist()
        )
    out: dict[tuple[str, str], int] = {}
    for row in sorted(rows, key=lambda r: r["invalid_reason"] is None):  # a valid row wins over a deprecated one
        key = (str(row["vocabulary_id"]), str(row["concept_code"]))
        if key in wanted:
            out[key] = int(row["concept_id"])
    return out


def _correlated(
    rule: InclusionRule | GroupCriterion, path: str, codeset: Mapping[str, int], ids: ConceptIds
) -> dict[str, Any]:
    """One dari rule or group criterion as Circe's correlated criterion."""
    return {
        "Criteria": _criterion(rule.domain, codeset[rule.concept_set], rule.value, f"{path}.value", ids),
        "StartWindow": _window(rule.window),
        "RestrictVisit": False,
        "IgnoreObservationPeriod": rule.ignore_observation_period,
        "Occurrence": {"Type": _OCCURRENCE[rule.occurrence.type], "Count": rule.occurrence.count, "IsDistinct": False},
    }


def _group_of(kind: str, count: int | None, criteria: list[Any], groups: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": kind, "CriteriaList": criteria, "DemographicCriteriaList": [], "Groups": groups}
    return out | ({"Count": count} if count is not None else {})


def _group(group: CriteriaGroup, path: str, codeset: Mapping[str, int], ids: ConceptIds) -> dict[str, Any]:
    """A dari criteria group as Circe's CriteriaGroup (nested groups too)."""
    criteria = [_correlated(c, f"{path}.criteria[{j}]", codeset, ids) for j, c in enumerate(group.criteria)]
    groups = [_group(g, f"{path}.groups[{k}]", codeset, ids) for k, g in enumerate(group.groups)]
    return _group_of(group.type.upper(), group.count, criteria, groups)


def export_circe(definition: CohortDefinition, concept_ids: ConceptIds | None = None) -> dict[str, Any]:
    """The definition as a Circe cohort expression (dict, ready for json.dumps); see the module docstring."""
    ids = concept_ids or {}
    codeset = {cs.id: k for k, cs in enumerate(definition.concept_sets)}
    concept_sets = [
        {
            "id": codeset[cs.id],
            "name": cs.name,
            "expression": {
                "items": [
                    {
                        # STANDARD_CONCEPT "N" marks an as-is item, so that it imports back as one
                        "concept": _concept(item, ids) | ({"STANDARD_CONCEPT": "N"} if item.as_is else {}),
                        "isExcluded": item.exclude,
                        "includeDescendants": item.include_descendants,
                        "includeMapped": False,
                    }
                    for item in cs.items
                ]
            },
        }
        for cs in definition.concept_sets
    ]
    ix = definition.index
    primary = [_criterion(ix.domain, codeset[ix.concept_set], ix.value, "index.value", ids)]
    primary += [
        _criterion(c.domain, codeset[c.concept_set], c.value, f"index.also[{k}].value", ids)
        for k, c in enumerate(ix.also)
    ]
    # Circe's criterion First checks the value on the earliest event and belongs to one criterion; its primary
    # limit First takes the earliest event passing value (as dari does) but also age, which dari checks after.
    limit_first = ix.occurrence == "first" and (ix.value is not None or bool(ix.also))
    if limit_first and ix.age is not None:
        raise CirceExportError(
            "index: occurrence first with an age and a value or several criteria has no Circe equivalent (Circe "
            "applies the age before taking the earliest event, dari after)"
        )
    by_code = {code: cid for cid, code in GENDER_IDS.items()}
    for criterion in primary:
        body = next(iter(criterion.values()))
        if ix.occurrence == "first" and not limit_first:
            body["First"] = True
        if ix.age is not None:
            body["Age"] = _age(ix.age)
        if ix.sex is not None:
            body["Gender"] = [{"CONCEPT_ID": by_code[s], "CONCEPT_CODE": s, "VOCABULARY_ID": "Gender"} for s in ix.sex]
    limit = "First" if ix.occurrence == "first" else "All"
    rules = []
    for k, rule in enumerate(definition.inclusion_rules):
        if isinstance(rule, GroupRule):
            expression = _group(rule.group, f"inclusion_rules[{k}].group", codeset, ids)
        else:
            expression = _group_of("ALL", None, [_correlated(rule, f"inclusion_rules[{k}]", codeset, ids)], [])
        rules.append({"name": rule.name, "description": "", "expression": expression})
    exit_ = definition.exit
    out: dict[str, Any] = {
        "Title": definition.name,
        "cdmVersionRange": ">=5.0.0",
        "PrimaryCriteria": {
            "CriteriaList": primary,
            "ObservationWindow": {
                "PriorDays": ix.observation_window.prior_days,
                "PostDays": ix.observation_window.post_days,
            },
            "PrimaryCriteriaLimit": {"Type": limit},
        },
        "ConceptSets": concept_sets,
        "QualifiedLimit": {"Type": limit},
        "ExpressionLimit": {"Type": "First"},
        "InclusionRules": rules,
        "CensoringCriteria": [],
        "CollapseSettings": {"CollapseType": "ERA", "EraPad": 0},
        "CensorWindow": {},
        "dari": {
            "name": definition.name,
            "description": definition.description,
            "concept_set_ids": {str(k): cs_id for cs_id, k in codeset.items()},
        },
    }
    if exit_.type == "fixed_offset":
        field = "EndDate" if exit_.date_field == "end_date" else "StartDate"
        out["EndStrategy"] = {"DateOffset": {"DateField": field, "Offset": exit_.days}}
    return out
