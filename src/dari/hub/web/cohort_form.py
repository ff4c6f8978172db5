"""The cohort builder's form, both ways: posted fields → `dari.cohort.CohortDefinition`, and a definition → fields.

The form holds what most feasibility questions need: one index concept set (domain, first/all events, age, sex,
prior observation) and up to `RULE_SLOTS` inclusion rules (a concept set in a domain, counted in a window of days
around index). A concept set is written one concept a line, `VOCABULARY CODE`, with `+` after it to include its
descendants and `-` before it to exclude it; text after `#` is a note (the concept's name). A definition the form
cannot hold (criteria groups, values, other exits…) stays whole as dari cohort JSON (`source="json"`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from dari.cohort.definition import (
    CohortDefinition,
    Domain,
    GroupRule,
    ObservationEndExit,
    parse_definition,
)
from dari.errors import InputError

RULE_SLOTS = 3
DOMAINS: tuple[str, ...] = get_args(Domain)
OCCURRENCES = ("at_least", "at_most", "exactly")


@dataclass
class RuleFields:
    """One inclusion-rule slot of the form (empty when its concept lines are empty)."""

    name: str = ""
    domain: str = "condition_occurrence"
    codes: str = ""
    start: str = ""
    end: str = "0"
    occurrence: str = "at_least"
    count: str = "1"


@dataclass
class CohortForm:
    """The builder's fields as strings, as they are posted and shown."""

    name: str = ""
    source: str = "form"  # "form" or "json"
    definition_json: str = ""
    index_domain: str = "condition_occurrence"
    index_codes: str = ""
    index_occurrence: str = "first"
    age_min: str = ""
    age_max: str = ""
    sexes: list[str] = field(default_factory=list)
    prior_days: str = "0"
    rules: list[RuleFields] = field(default_factory=lambda: [RuleFields() for _ in range(RULE_SLOTS)])


def form_from_fields(data: Mapping[str, Any]) -> CohortForm:
    """The posted fields (a multi-dict's single values, `sex` a list) as a form."""

    def get(key: str, default: str = "") -> str:
        value = data.get(key, default)
        return str(value).strip() if value is not None else default

    rules = [
        RuleFields(
            name=get(f"rule{i}_name"),
            domain=get(f"rule{i}_domain", "condition_occurrence"),
            codes=get(f"rule{i}_codes"),
            start=get(f"rule{i}_start"),
            end=get(f"rule{i}_end", "0"),
            occurrence=get(f"rule{i}_occurrence", "at_least"),
            count=get(f"rule{i}_count", "1"),
        )
        for i in range(RULE_SLOTS)
    ]
    sexes = data.get("sex", [])
    return CohortForm(
        name=get("name"),
        source="json" if get("source") == "json" else "form",
        definition_json=get("definition_json"),
        index_domain=get("index_domain", "condition_occurrence"),
        index_codes=get("index_codes"),
        index_occurrence=get("index_occurrence", "first"),
        age_min=get("age_min"),
        age_max=get("age_max"),
        sexes=[s for s in (sexes if isinstance(sexes, list) else [sexes]) if s in ("F", "M")],
        prior_days=get("prior_days", "0"),
        rules=rules,
    )


def parse_concept_lines(text: str, where: str) -> list[dict[str, Any]]:
    """Concept-set items from `VOCABULARY CODE [+]` lines (`-` first excludes); errors name the field and line."""
    items = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        exclude = line.startswith("-")
        line = line.removeprefix("-").strip()
        descendants = line.endswith("+")
        parts = line.removesuffix("+").split()
        if len(parts) != 2:
            raise InputError(f"{where}, line {number}: write a concept as 'VOCABULARY CODE' (e.g. 'KCD8 E11 +')")
        vocabulary, code = parts
        items.append(
            {"vocabulary_id": vocabulary, "concept_code": code, "include_descendants": descendants, "exclude": exclude}
        )
    return items


def concept_lines(items: list[dict[str, Any]]) -> str:
    """Concept-set items back as the form's lines."""
    return "\n".join(
        f"{'-' if i.get('exclude') else ''}{i['vocabulary_id']} {i['concept_code']}"
        f"{' +' if i.get('include_descendants') else ''}"
        for i in items
    )


def _int(value: str, where: str, *, optional: bool = True) -> int | None:
    if value == "" and optional:
        return None
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{where}: a whole number, got {value[:20]!r}") from None


def definition_from_form(form: CohortForm) -> CohortDefinition:
    """The form as a cohort definition, or `InputError` naming the field."""
    if form.source == "json":
        if not form.definition_json:
            raise InputError("definition_json: the cohort JSON is empty")
        return parse_definition(_json(form.definition_json, "definition_json"))
    index_items = parse_concept_lines(form.index_codes, "index_codes")
    if not index_items:
        raise InputError("index_codes: give at least one concept of the index event")
    concept_sets: list[dict[str, Any]] = [{"id": "index", "name": "index event", "items": index_items}]
    index: dict[str, Any] = {
        "domain": form.index_domain,
        "concept_set": "index",
        "occurrence": form.index_occurrence,
        "observation_window": {"prior_days": _int(form.prior_days, "prior_days") or 0, "post_days": 0},
    }
    low, high = _int(form.age_min, "age_min"), _int(form.age_max, "age_max")
    if low is not None or high is not None:
        index["age"] = {"min": low, "max": high}
    if form.sexes:
        index["sex"] = sorted(set(form.sexes))
    rules = []
    for i, slot in enumerate(form.rules):
        items = parse_concept_lines(slot.codes, f"rule{i}_codes")
        if not items:
            continue
        set_id = f"rule{i + 1}"
        name = slot.name or f"rule {i + 1}"
        concept_sets.append({"id": set_id, "name": name, "items": items})
        rules.append(
            {
                "name": name,
                "domain": slot.domain,
                "concept_set": set_id,
                "window": {
                    "start_days": _int(slot.start, f"rule{i}_start"),
                    "end_days": _int(slot.end, f"rule{i}_end"),
                },
                "occurrence": {"type": slot.occurrence, "count": _int(slot.count, f"rule{i}_count", optional=False)},
            }
        )
    raw = {
        "name": form.name or "cohort",
        "concept_sets": concept_sets,
        "index": index,
        "inclusion_rules": rules,
    }
    return parse_definition(raw)


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None


def _fits_form(d: CohortDefinition) -> bool:
    """Whether the form can hold the definition without losing anything."""
    sets = {c.id: c for c in d.concept_sets}
    i = d.index
    index_ok = i.value is None and not i.also and i.observation_window.post_days == 0
    rules_ok = len(d.inclusion_rules) <= RULE_SLOTS and all(
        not isinstance(r, GroupRule) and r.value is None and not r.ignore_observation_period for r in d.inclusion_rules
    )
    items_ok = all(not item.as_is for c in sets.values() for item in c.items)
    return index_ok and rules_ok and items_ok and isinstance(d.exit, ObservationEndExit) and not d.description


def form_from_definition(d: CohortDefinition) -> CohortForm:
    """A definition as the form's fields; one the form cannot hold comes whole, as JSON (`source="json"`)."""
    if not _fits_form(d):
        text = json.dumps(d.model_dump(mode="json"), ensure_ascii=False, indent=2)
        return CohortForm(name=d.name, source="json", definition_json=text)
    sets = {c.id: [item.model_dump() for item in c.items] for c in d.concept_sets}
    form = CohortForm(
        name=d.name,
        index_domain=d.index.domain,
        index_codes=concept_lines(sets[d.index.concept_set]),
        index_occurrence=d.index.occurrence,
        age_min="" if d.index.age is None or d.index.age.min is None else str(d.index.age.min),
        age_max="" if d.index.age is None or d.index.age.max is None else str(d.index.age.max),
        sexes=list(d.index.sex or []),
        prior_days=str(d.index.observation_window.prior_days),
    )
    for k, r in enumerate(d.inclusion_rules):
        assert not isinstance(r, GroupRule)  # _fits_form refused groups
        form.rules[k] = RuleFields(
            name=r.name,
            domain=r.domain,
            codes=concept_lines(sets[r.concept_set]),
            start="" if r.window.start_days is None else str(r.window.start_days),
            end="" if r.window.end_days is None else str(r.window.end_days),
            occurrence=r.occurrence.type,
            count=str(r.occurrence.count),
        )
    return form


def apply_variables(d: CohortDefinition) -> list[dict[str, str]]:
    """What "Apply with this cohort" sends as `variables`: each concept set with the CDM table it is used in."""
    used: dict[str, str] = {d.index.concept_set: d.index.domain}
    for r in d.inclusion_rules:
        if not isinstance(r, GroupRule):
            used.setdefault(r.concept_set, r.domain)
        else:
            for _, c in r.group.members("group"):
                used.setdefault(c.concept_set, c.domain)
    return [{"table": used[c.id], "concept_set": c.id, "label": c.name or c.id} for c in d.concept_sets if c.id in used]
