"""Import OHDSI Circe cohort expressions (what ATLAS exports) into dari's cohort definition, or refuse by JSON path.

Only expressions whose cohort dari computes *identically* are imported (docs/cohort-definitions.md §8). Anything
else is refused with a `CirceImportError` naming the Circe element (`EndStrategy.CustomEra`,
`InclusionRules[2].expression.Groups` …): never a traceback, never a silently different cohort. A key whose
value is null, false or empty (`[]`, `{}`) is Circe's default and is read as absent; any other key dari does not
read is refused. The limits decide the index `occurrence` (see `_occurrence`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dari.cohort.definition import (
    CohortDefinition,
    CohortDefinitionError,
    describe_validation_error,
    read_json_document,
)

DOMAINS = {
    "ConditionOccurrence": "condition_occurrence",
    "DrugExposure": "drug_exposure",
    "Measurement": "measurement",
    "ProcedureOccurrence": "procedure_occurrence",
    "Observation": "observation",
    "VisitOccurrence": "visit_occurrence",
}
GENDER_IDS = {8507: "M", 8532: "F"}  # OHDSI's standard Gender concepts
_TOP = {
    "ConceptSets",
    "PrimaryCriteria",
    "AdditionalCriteria",
    "QualifiedLimit",
    "ExpressionLimit",
    "InclusionRules",
    "EndStrategy",
    "CensoringCriteria",
    "CollapseSettings",
    "CensorWindow",
    "cdmVersionRange",
    "Title",
    "dari",
}


class CirceImportError(CohortDefinitionError):
    """Circe JSON outside the subset dari imports; `path` is the JSON path of the Circe element."""

    def __init__(self, message: str, *, path: str, file: str | None = None) -> None:
        self.detail = message
        super().__init__(message, path=path, file=file)


def _absent(value: Any) -> bool:
    return value is None or value is False or value == [] or value == {}


def _check_keys(obj: Any, path: str, known: set[str]) -> dict[str, Any]:
    """The object as a dict; a key dari does not read, set to anything but Circe's default, is refused."""
    if not isinstance(obj, dict):
        raise CirceImportError("must be a JSON object", path=path)
    for key, value in obj.items():
        if key not in known and not (key.endswith("TypeExclude") and value is False) and not _absent(value):
            raise CirceImportError(
                "not supported by dari's cohort subset (see docs/cohort-definitions.md)",
                path=f"{path}.{key}" if path else key,
            )
    return obj


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CirceImportError("must be a JSON array", path=path)
    return value


def _range(obj: Any, path: str) -> tuple[str, float, float | None]:
    r = _check_keys(obj, path, {"Value", "Op", "Extent"})
    op: Any = r.get("Op")
    value: Any = r.get("Value")
    extent: Any = r.get("Extent")
    if op not in ("lt", "lte", "eq", "gt", "gte", "bt") or not _number(value):
        raise CirceImportError(f"unsupported range (Op {op!r}; dari reads lt, lte, eq, gt, gte, bt)", path=path)
    if op == "bt" and not _number(extent):
        raise CirceImportError("Op bt needs a numeric Extent", path=f"{path}.Extent")
    return str(op), float(value), float(extent) if op == "bt" and extent is not None else None


def _value(obj: Any, path: str) -> dict[str, float]:
    op, v, extent = _range(obj, path)
    if op == "eq":
        return {"gte": v, "lte": v}
    if op == "bt":
        return {"gte": v, "lte": extent} if extent is not None else {}
    return {op: v}


def _age(obj: Any, path: str) -> dict[str, int]:
    op, v, extent = _range(obj, path)
    bounds: dict[str, float | None] = {
        "gt": {"min": v + 1},
        "gte": {"min": v},
        "lt": {"max": v - 1},
        "lte": {"max": v},
        "eq": {"min": v, "max": v},
        "bt": {"min": v, "max": extent},
    }[op]  # type: ignore[assignment]
    if any(b is None or b != int(b) for b in bounds.values()):
        raise CirceImportError("ages must be whole years", path=path)
    return {k: int(b) for k, b in bounds.items() if b is not None}


def _concept(obj: Any, path: str) -> dict[str, str]:
    c = obj if isinstance(obj, dict) else {}
    vocabulary, code = c.get("VOCABULARY_ID"), c.get("CONCEPT_CODE")
    if not vocabulary or code in (None, ""):
        raise CirceImportError("needs VOCABULARY_ID and CONCEPT_CODE (dari names concepts by code)", path=path)
    return {"vocabulary_id": str(vocabulary), "concept_code": str(code)}


def _sex(obj: Any, path: str) -> list[str]:
    out: list[str] = []
    for k, c in enumerate(_list(obj, path)):
        cid = c.get("CONCEPT_ID") if isinstance(c, dict) else None
        code = GENDER_IDS.get(cid) if isinstance(cid, int) else None
        if code is None and isinstance(c, dict) and c.get("VOCABULARY_ID") == "Gender":
            code = c.get("CONCEPT_CODE") if c.get("CONCEPT_CODE") in ("F", "M") else None
        if code is None:
            raise CirceImportError("only the Gender concepts F (8532) and M (8507) are supported", path=f"{path}[{k}]")
        out.append(code)
    return out


def _criterion(obj: Any, path: str, codesets: dict[Any, str], *, primary: bool) -> dict[str, Any]:
    """One Circe criterion ({"ConditionOccurrence": {...}}) as dari's domain, concept_set and value/age/sex."""
    if not isinstance(obj, dict) or len(obj) != 1:
        raise CirceImportError("a criterion must be an object with one domain key", path=path)
    ((kind, body),) = obj.items()
    if kind not in DOMAINS:
        raise CirceImportError(
            f"criterion {kind} is not supported (dari reads {', '.join(DOMAINS)})", path=f"{path}.{kind}"
        )
    path = f"{path}.{kind}"
    known = {"CodesetId"} | ({"First", "Age", "Gender"} if primary else set())
    known |= {"ValueAsNumber", "Unit"} if kind == "Measurement" else set()
    body = _check_keys(body, path, known)
    codeset = body.get("CodesetId")
    if codeset is not None and not _whole(codeset):
        raise CirceImportError("CodesetId must be a whole number", path=f"{path}.CodesetId")
    if codeset is None:
        raise CirceImportError("a criterion without CodesetId (any concept) is not supported", path=path)
    if codeset not in codesets:
        raise CirceImportError(f"unknown concept set {codeset!r}", path=f"{path}.CodesetId")
    out: dict[str, Any] = {"domain": DOMAINS[kind], "concept_set": codesets[codeset]}
    value: dict[str, Any] = _value(body["ValueAsNumber"], f"{path}.ValueAsNumber") if body.get("ValueAsNumber") else {}
    units = _list(body.get("Unit"), f"{path}.Unit")
    if len(units) > 1:
        raise CirceImportError("dari's value.unit holds one unit", path=f"{path}.Unit[1]")
    if units:
        value["unit"] = _concept(units[0], f"{path}.Unit[0]")
    if value:
        out["value"] = value
    if body.get("Age"):
        out["age"] = _age(body["Age"], f"{path}.Age")
    if body.get("Gender"):
        out["sex"] = _sex(body["Gender"], f"{path}.Gender")
    out["first"] = bool(body.get("First"))
    return out


def _window_days(end: Any, path: str) -> int | None:
    e = _check_keys(end or {}, path, {"Days", "Coeff"})
    if e.get("Days") is None:
        return None  # Circe's "All days before/after"
    coeff = e.get("Coeff")
    if not _whole(coeff) or coeff not in (-1, 1) or not _whole(e["Days"]):
        raise CirceImportError("Days must be a whole number and Coeff -1 or 1", path=path)
    return int(e["Days"]) * int(coeff)


def _correlated(obj: Any, path: str, codesets: dict[Any, str], name: str) -> dict[str, Any]:
    c = _check_keys(obj, path, {"Criteria", "StartWindow", "Occurrence", "IgnoreObservationPeriod"})
    rule = _criterion(c.get("Criteria"), f"{path}.Criteria", codesets, primary=False)
    rule.pop("first")
    sw = _check_keys(c.get("StartWindow"), f"{path}.StartWindow", {"Start", "End"})
    occurrence = _check_keys(c.get("Occurrence"), f"{path}.Occurrence", {"Type", "Count", "CountColumn"})
    type_: Any = occurrence.get("Type")
    count: Any = occurrence.get("Count")
    kind = {0: "exactly", 1: "at_most", 2: "at_least"}.get(type_) if _whole(type_) else None
    if kind is None or not _whole(count):
        raise CirceImportError("Type must be 0, 1 or 2 and Count a whole number", path=f"{path}.Occurrence")
    if kind == "at_least" and count == 0:
        raise CirceImportError("'at least 0' is always true: dari refuses it", path=f"{path}.Occurrence.Count")
    window = {
        "start_days": _window_days(sw.get("Start"), f"{path}.StartWindow.Start"),
        "end_days": _window_days(sw.get("End"), f"{path}.StartWindow.End"),
    }
    ignore = c.get("IgnoreObservationPeriod") is True
    return {"name": name, **rule, "window": window, "occurrence": {"type": kind, "count": count}} | (
        {"ignore_observation_period": True} if ignore else {}
    )


def _criteria_group(obj: Any, path: str, codesets: dict[Any, str]) -> dict[str, Any]:
    """A Circe CriteriaGroup, nested groups too, as dari's `group` (circe-be groupQuery: members that match)."""
    g = _check_keys(obj, path, {"Type", "CriteriaList", "Count", "Groups"})
    kind: Any = g.get("Type", "ALL")
    count: Any = g.get("Count")
    if kind not in ("ALL", "ANY", "AT_LEAST", "AT_MOST"):
        raise CirceImportError(f"group Type {kind!r} (Circe has ALL, ANY, AT_LEAST, AT_MOST)", path=f"{path}.Type")
    counted = kind in ("AT_LEAST", "AT_MOST")
    if counted and not (_whole(count) and count >= 0):
        raise CirceImportError(f"{kind} needs a whole Count ≥ 0", path=f"{path}.Count")
    if kind == "AT_LEAST" and count == 0:
        raise CirceImportError("'at least 0' is always true: dari refuses it", path=f"{path}.Count")
    items = _list(g.get("CriteriaList"), f"{path}.CriteriaList")
    groups = _list(g.get("Groups"), f"{path}.Groups")
    if not items and not groups:
        raise CirceImportError("an empty criteria group is not supported", path=f"{path}.CriteriaList")
    criteria = []
    for k, c in enumerate(items):
        criterion = _correlated(c, f"{path}.CriteriaList[{k}]", codesets, "")
        del criterion["name"]
        criteria.append(criterion)
    return {
        "type": kind.lower(),
        "criteria": criteria,
        "groups": [_criteria_group(x, f"{path}.Groups[{k}]", codesets) for k, x in enumerate(groups)],
    } | ({"count": count} if counted else {})


def _group(obj: Any, path: str, codesets: dict[Any, str], name: str) -> list[dict[str, Any]]:
    """A criteria group as dari rules: ALL of n criteria is n rules (same cohort, n attrition steps); any other
    group (ANY, AT_LEAST, AT_MOST of several, nested Groups) is one rule holding the group."""
    g = _check_keys(obj, path, {"Type", "CriteriaList", "Count", "Groups"})
    items = _list(g.get("CriteriaList"), f"{path}.CriteriaList")
    kind, count = g.get("Type", "ALL"), g.get("Count")
    single_any = len(items) == 1 and (kind == "ANY" or (kind == "AT_LEAST" and count == 1))
    if g.get("Groups") or (kind != "ALL" and not single_any):
        return [{"name": name, "group": _criteria_group(g, path, codesets)}]
    if not items:
        raise CirceImportError("an empty criteria group is not supported", path=f"{path}.CriteriaList")
    names = [name] if len(items) == 1 else [f"{name} ({k + 1}/{len(items)})" for k in range(len(items))]
    return [_correlated(c, f"{path}.CriteriaList[{k}]", codesets, names[k]) for k, c in enumerate(items)]


def _limit(doc: dict[str, Any], key: str, path: str) -> str:
    kind = _check_keys(doc.get(key) or {}, path, {"Type"}).get("Type", "First")
    if kind not in ("First", "All", "Last"):
        raise CirceImportError(f"limit {kind!r} is not supported (Circe has First, Last and All)", path=f"{path}.Type")
    return str(kind)


def _occurrence(doc: dict[str, Any], index: dict[str, Any], criterion: str, rules: bool) -> str:
    """dari's index occurrence giving the same cohort as Circe's `First` flag and limits, or refuse what differs.

    Circe (primaryEventsQuery): a criterion's `First` takes the person's earliest event of the concept set, then
    checks the criterion's other filters on it; `PrimaryCriteriaLimit: First` takes the earliest event that
    passes the criterion's filters (value, age, gender), then checks the observation window. dari's `first` takes
    the earliest event of the right value, then checks window, age and sex; `all` keeps each person's earliest
    candidate passing every step. A later `First` limit keeps one event before the inclusion rules run. Circe
    applies `QualifiedLimit` only when there are AdditionalCriteria (CohortExpressionQueryBuilder), so without
    them it is ignored here too. `Last` (the latest event) is read where at most one event per person reaches
    that limit, so that Last and First are the same event; elsewhere it is refused.
    """
    primary = _limit(doc["PrimaryCriteria"], "PrimaryCriteriaLimit", "PrimaryCriteria.PrimaryCriteriaLimit")
    qualified = _limit(doc, "QualifiedLimit", "QualifiedLimit")
    qualified = qualified if doc.get("AdditionalCriteria") else "All"
    expression = _limit(doc, "ExpressionLimit", "ExpressionLimit")
    single = bool(index.get("first")) and not index.get("also")  # one candidate event per person from the start
    if primary == "Last" and not single:
        raise CirceImportError(
            "Last keeps each person's latest event: dari's index is the earliest",
            path="PrimaryCriteria.PrimaryCriteriaLimit.Type",
        )
    single = single or primary != "All"
    if qualified == "Last" and not single:
        raise CirceImportError(
            "Last keeps each person's latest event passing the additional criteria: dari keeps the earliest",
            path="QualifiedLimit.Type",
        )
    if expression == "Last" and not (single or (qualified != "All" and not rules)):
        raise CirceImportError(
            "Last makes each person's latest qualifying event the entry: dari's entry is the earliest",
            path="ExpressionLimit.Type",
        )
    if index.pop("first"):
        if "value" in index:
            raise CirceImportError(
                "First with a value range: Circe checks the value on the earliest event, dari takes the earliest "
                "event with a value in range",
                path=f"{criterion}.First",
            )
        return "first"
    if primary != "All":
        if "age" in index:
            raise CirceImportError(
                "First with Age on the criterion: Circe takes the earliest event at an eligible age, dari takes "
                "the earliest event and then checks the age",
                path="PrimaryCriteria.PrimaryCriteriaLimit.Type",
            )
        return "first"
    if qualified != "All" and rules:
        raise CirceImportError(
            "keeps each person's earliest event before the inclusion rules are applied; dari keeps the earliest "
            "that passes them",
            path="QualifiedLimit.Type",
        )
    if qualified == "All" and expression == "All":
        raise CirceImportError(
            "every qualifying event is a cohort entry (several per person, collapsed into eras): dari keeps one "
            "entry per person",
            path="ExpressionLimit.Type",
        )
    return "all"


def _end(doc: dict[str, Any]) -> dict[str, Any]:
    end = _check_keys(doc.get("EndStrategy") or {}, "EndStrategy", {"DateOffset"})
    if not end.get("DateOffset"):
        return {"type": "end_of_observation"}
    offset = _check_keys(end["DateOffset"], "EndStrategy.DateOffset", {"DateField", "Offset"})
    field = {"StartDate": "start_date", "EndDate": "end_date"}.get(offset.get("DateField", "StartDate"))
    if field is None:
        raise CirceImportError("DateField must be StartDate or EndDate", path="EndStrategy.DateOffset.DateField")
    days = offset.get("Offset", 0)
    if not _whole(days) or days < 0:
        raise CirceImportError("Offset must be a whole number of days ≥ 0", path="EndStrategy.DateOffset.Offset")
    return {"type": "fixed_offset", "days": days} | ({"date_field": field} if field == "end_date" else {})


def _concept_sets(doc: dict[str, Any], ids: dict[str, str]) -> tuple[list[dict[str, Any]], dict[Any, str]]:
    sets: list[dict[str, Any]] = []
    codesets: dict[Any, str] = {}
    for i, cs in enumerate(_list(doc.get("ConceptSets"), "ConceptSets")):
        path = f"ConceptSets[{i}]"
        cs = _check_keys(cs, path, {"id", "name", "expression"})
        expr = _check_keys(cs.get("expression") or {}, f"{path}.expression", {"items"})
        if not _whole(cs.get("id")):
            raise CirceImportError("a concept set id must be a whole number", path=f"{path}.id")
        set_id = ids.get(str(cs.get("id")), f"cs{cs.get('id')}")
        items = []
        for j, item in enumerate(_list(expr.get("items"), f"{path}.expression.items")):
            ipath = f"{path}.expression.items[{j}]"
            item = _check_keys(item, ipath, {"concept", "isExcluded", "includeDescendants"})
            concept = item.get("concept")
            # Circe matches a non-standard id as itself (nothing, in a conformant CDM's standard columns), never
            # through 'Maps to': the item is read `as_is`.
            as_is = isinstance(concept, dict) and concept.get("STANDARD_CONCEPT") not in (None, "", "S", "C")
            items.append(
                {
                    **_concept(item.get("concept"), f"{ipath}.concept"),
                    "include_descendants": bool(item.get("includeDescendants")),
                    "exclude": bool(item.get("isExcluded")),
                }
                | ({"as_is": True} if as_is else {})
            )
        if not items:
            raise CirceImportError("an empty concept set is not supported", path=f"{path}.expression.items")
        if cs.get("id") in codesets:
            raise CirceImportError(f"duplicate concept set id {cs.get('id')!r}", path=f"{path}.id")
        codesets[cs.get("id")] = set_id
        sets.append({"id": set_id, "name": str(cs.get("name") or ""), "items": items})
    return sets, codesets


def import_circe(raw: Any, *, name: str | None = None, file: str | None = None) -> CohortDefinition:
    """A parsed Circe cohort expression (or WebAPI's {name, expression} wrapper) as a dari CohortDefinition."""
    try:
        return _import(raw, name, file)
    except CirceImportError as exc:
        raise CirceImportError(exc.detail, path=exc.path, file=file) from None


def _import(raw: Any, name: str | None, file: str | None) -> CohortDefinition:
    if isinstance(raw, dict) and "expression" in raw and "PrimaryCriteria" not in raw:
        expression = raw["expression"]  # WebAPI's cohort definition: the expression, sometimes as a string
        name = name or raw.get("name")
        try:
            raw = json.loads(expression) if isinstance(expression, str) else expression
        except json.JSONDecodeError as exc:
            raise CirceImportError(f"not valid JSON: {exc.msg} (column {exc.colno})", path="expression") from None
    doc = _check_keys(raw, "", _TOP)
    extra: dict[str, Any] = doc["dari"] if isinstance(doc.get("dari"), dict) else {}
    ids = extra.get("concept_set_ids")
    sets, codesets = _concept_sets(doc, {str(k): str(v) for k, v in ids.items()} if isinstance(ids, dict) else {})
    pc = _check_keys(
        doc.get("PrimaryCriteria"), "PrimaryCriteria", {"CriteriaList", "ObservationWindow", "PrimaryCriteriaLimit"}
    )
    criteria = _list(pc.get("CriteriaList"), "PrimaryCriteria.CriteriaList")
    if not criteria:
        raise CirceImportError("needs at least one primary criterion", path="PrimaryCriteria.CriteriaList")
    parsed = [
        _criterion(c, f"PrimaryCriteria.CriteriaList[{k}]", codesets, primary=True) for k, c in enumerate(criteria)
    ]
    index = parsed[0]
    if len(parsed) > 1:
        for k, c in enumerate(parsed):
            where = f"PrimaryCriteria.CriteriaList[{k}].{next(iter(criteria[k]))}"
            if c["first"]:
                raise CirceImportError(
                    "First on one of several primary criteria: Circe takes that criterion's own earliest event, "
                    "dari's occurrence applies to the criteria together",
                    path=f"{where}.First",
                )
            if c.get("age") != index.get("age") or c.get("sex") != index.get("sex"):
                raise CirceImportError(
                    "Age and Gender must be the same on every primary criterion (dari applies them to the index)",
                    path=where,
                )
        index["also"] = [{k: c[k] for k in ("domain", "concept_set", "value") if k in c} for c in parsed[1:]]
    ow = _check_keys(pc.get("ObservationWindow") or {}, "PrimaryCriteria.ObservationWindow", {"PriorDays", "PostDays"})
    index["observation_window"] = {
        "prior_days": 0 if ow.get("PriorDays") is None else ow["PriorDays"],
        "post_days": 0 if ow.get("PostDays") is None else ow["PostDays"],
    }
    rules = (
        _group(doc["AdditionalCriteria"], "AdditionalCriteria", codesets, "additional criteria")
        if doc.get("AdditionalCriteria")
        else []
    )
    n_additional = len(rules)
    for k, rule in enumerate(_list(doc.get("InclusionRules"), "InclusionRules")):
        path = f"InclusionRules[{k}]"
        rule = _check_keys(rule, path, {"name", "description", "expression"})
        rules += _group(rule.get("expression"), f"{path}.expression", codesets, rule.get("name") or f"rule {k + 1}")
    kind = next(iter(criteria[0]))
    index["occurrence"] = _occurrence(doc, index, f"PrimaryCriteria.CriteriaList[0].{kind}", len(rules) > n_additional)
    if doc.get("CensoringCriteria"):
        raise CirceImportError("censoring criteria are not supported", path="CensoringCriteria[0]")
    _check_keys(doc.get("CensorWindow") or {}, "CensorWindow", set())
    # One entry per person (the limits above guarantee it), so era collapsing has nothing to merge.
    _check_keys(doc.get("CollapseSettings") or {}, "CollapseSettings", {"CollapseType", "EraPad"})
    definition = {
        "version": 1,
        "name": str(extra.get("name") or name or doc.get("Title") or (Path(file).stem if file else "ATLAS cohort")),
        "description": str(extra.get("description") or ""),
        "concept_sets": sets,
        "index": index,
        "inclusion_rules": rules,
        "exit": _end(doc),
    }
    try:
        return CohortDefinition.model_validate(definition)
    except ValidationError as exc:
        inner = describe_validation_error(exc)
        raise CirceImportError(f"the imported definition is invalid at {inner}", path="") from None


def load_circe(source: Path | str, *, name: str | None = None) -> CohortDefinition:
    """Read a Circe cohort-expression JSON file (or text) and import it (see `import_circe`)."""
    raw, file = read_json_document(source, "Circe cohort expression")
    return import_circe(raw, name=name, file=file)
