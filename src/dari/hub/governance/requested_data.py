"""What an application asks to use: the cohort (a dari definition or ATLAS JSON) and the variables as a structured
list of OMOP CDM tables and the cohort's concept sets, with the cohort told in words for the board."""

from __future__ import annotations

import json
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dari.cohort.circe import import_circe
from dari.cohort.definition import CohortDefinition, FixedOffsetExit, GroupRule, describe_validation_error
from dari.errors import InputError

OmopTable = Literal[
    "person",
    "observation_period",
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "procedure_occurrence",
    "measurement",
    "observation",
    "device_exposure",
    "death",
]
TABLE_LABELS: dict[str, tuple[str, str]] = {
    "person": ("인구학적 정보 (성별, 출생연도)", "Person (sex, year of birth)"),
    "observation_period": ("관찰 기간", "Observation periods"),
    "visit_occurrence": ("방문", "Visits"),
    "condition_occurrence": ("진단", "Conditions"),
    "drug_exposure": ("약물 처방", "Drug exposures"),
    "procedure_occurrence": ("시술", "Procedures"),
    "measurement": ("검사 결과", "Measurements"),
    "observation": ("관찰", "Observations"),
    "device_exposure": ("의료기기", "Device exposures"),
    "death": ("사망", "Death"),
}
assert set(TABLE_LABELS) == set(get_args(OmopTable))
MAX_COHORT_CHARS = 200_000


class RequestedVariable(BaseModel):
    """One requested variable: a CDM table, optionally narrowed to one of the cohort's concept sets."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    table: OmopTable
    concept_set: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
    label: str = Field(min_length=1, max_length=200)


def parse_cohort(raw: str | dict[str, Any]) -> CohortDefinition:
    """A dari cohort definition or an ATLAS (Circe) cohort expression, validated; InputError naming the JSON path."""
    if isinstance(raw, str):
        if len(raw) > MAX_COHORT_CHARS:
            raise InputError(f"cohort_json: at most {MAX_COHORT_CHARS} characters, got {len(raw)}")
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"cohort_json: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
    if not isinstance(raw, dict):
        raise InputError("cohort_json: must be a JSON object (a dari cohort definition or ATLAS cohort JSON)")
    try:
        if "index" in raw and "concept_sets" in raw:  # dari's own definition
            try:
                return CohortDefinition.model_validate(raw)
            except ValidationError as exc:
                raise describe_validation_error(exc) from None
        return import_circe(raw)
    except InputError as exc:
        raise InputError(f"cohort_json: {exc}") from None


def concept_set_tables(cohort: CohortDefinition) -> dict[str, str]:
    """Each concept set of the cohort and the CDM table its first criterion reads it from."""
    out: dict[str, str] = {cohort.index.concept_set: cohort.index.domain}
    for also in cohort.index.also:
        out.setdefault(also.concept_set, also.domain)
    for rule in cohort.inclusion_rules:
        members = [c for _, c in rule.group.members("")] if isinstance(rule, GroupRule) else [rule]
        for member in members:
            out.setdefault(member.concept_set, member.domain)
    return out


def variable_options(cohort: CohortDefinition | None, lang: str) -> list[RequestedVariable]:
    """What the form offers: the cohort's concept sets (in their tables), then every CDM table whole."""
    options: list[RequestedVariable] = []
    if cohort is not None:
        names = {c.id: c.name or c.id for c in cohort.concept_sets}
        for concept_set, table in concept_set_tables(cohort).items():
            options.append(RequestedVariable(table=table, concept_set=concept_set, label=names[concept_set]))
    for table, labels in TABLE_LABELS.items():
        options.append(RequestedVariable(table=table, label=labels[1] if lang == "en" else labels[0]))
    return options


def variable_token(variable: RequestedVariable) -> str:
    """The form value of a variable: `table` or `table:concept_set`."""
    return f"{variable.table}:{variable.concept_set}" if variable.concept_set else variable.table


def variable_from_form(token: str, cohort: CohortDefinition | None) -> RequestedVariable:
    """A form value (`table`, `table:concept_set` or a JSON object) as a variable; InputError naming the value."""
    token = token.strip()
    try:
        if token.startswith("{"):
            return RequestedVariable.model_validate_json(token)
        table, _, concept_set = token.partition(":")
        if concept_set:
            names = {c.id: c.name or c.id for c in cohort.concept_sets} if cohort else {}
            label = names.get(concept_set, concept_set)
        else:
            label = TABLE_LABELS.get(table, ("", table))[1]
        return RequestedVariable.model_validate({"table": table, "concept_set": concept_set or None, "label": label})
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "value"
        raise InputError(f"variables: {token[:80]!r} is not a variable ({where}: {problem['msg']})") from None


def _age(cohort: CohortDefinition, lang: str) -> str:
    age = cohort.index.age
    if age is None or (age.min is None and age.max is None):
        return ""
    if age.min is not None and age.max is not None:
        return f"aged {age.min}–{age.max}" if lang == "en" else f"{age.min}–{age.max}세"
    if age.max is None:
        return f"aged ≥ {age.min}" if lang == "en" else f"{age.min}세 이상"
    return f"aged ≤ {age.max}" if lang == "en" else f"{age.max}세 이하"


def _exit(cohort: CohortDefinition, lang: str) -> str:
    exit_ = cohort.exit
    if isinstance(exit_, FixedOffsetExit):
        return (
            f"Follow-up until {exit_.days} days after index."
            if lang == "en"
            else f"추적: 기준일 후 {exit_.days}일까지."
        )
    return "Follow-up until the end of the observation period." if lang == "en" else "추적: 관찰 기간 종료까지."


def describe_cohort(cohort: CohortDefinition, lang: str) -> list[str]:
    """The cohort in plain sentences (index event, age/sex, inclusion rules, exit) for the board's review page."""
    en = lang == "en"
    names = {c.id: c.name or c.id for c in cohort.concept_sets}
    table = TABLE_LABELS[cohort.index.domain][1 if en else 0]
    index_set = names[cohort.index.concept_set]
    sex = {"F": ("여성", "women"), "M": ("남성", "men")}
    who = ", ".join(p for p in (_age(cohort, lang), ", ".join(sex[s][en] for s in cohort.index.sex or [])) if p)
    if en:
        first = "first" if cohort.index.occurrence == "first" else "every"
        lines = [f"Index: the {first} record of '{index_set}' in {table}" + (f", {who}" if who else "") + "."]
        lines += [f"Inclusion rule {k}: {r.name}." for k, r in enumerate(cohort.inclusion_rules, 1)]
    else:
        first = "첫" if cohort.index.occurrence == "first" else "모든"
        lines = [f"기준 사건: {table}의 '{index_set}' {first} 기록" + (f" ({who})" if who else "") + "."]
        lines += [f"포함 기준 {k}: {r.name}." for k, r in enumerate(cohort.inclusion_rules, 1)]
    lines.append(_exit(cohort, lang))
    codes = [
        f"{c.name or c.id} ({', '.join(f'{i.vocabulary_id} {i.concept_code}' for i in c.items[:5])}"
        + (" …)" if len(c.items) > 5 else ")")
        for c in cohort.concept_sets
    ]
    lines.append(("Concept sets: " if en else "개념 집합: ") + "; ".join(codes) + ".")
    return lines
