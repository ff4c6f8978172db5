"""The declarative cohort definition: a documented subset of OHDSI's cohort expression, as a pydantic model.

docs/cohort-definitions.md maps every field to its OHDSI (circe) counterpart. Concepts are named by
(vocabulary_id, concept_code), never by concept id: each site resolves codes through its own `concept` table.
Unknown fields are refused (`extra="forbid"`), and every error names the JSON path of the offending value.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from dari.errors import InputError

Domain = Literal[
    "condition_occurrence", "drug_exposure", "measurement", "procedure_occurrence", "observation", "visit_occurrence"
]
Sex = Literal["F", "M"]
_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$"


class CohortDefinitionError(InputError):
    """A cohort definition (or Table 1 request) that cannot be used; `path` is the JSON path of the problem."""

    def __init__(self, message: str, *, path: str, file: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message, file=file)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConceptRef(_Strict):
    """One concept named by its vocabulary and code (e.g. SNOMED 44054006, LOINC 2160-0, KCD8 E11)."""

    vocabulary_id: str = Field(min_length=1)
    concept_code: str = Field(min_length=1)

    def label(self) -> str:
        """`VOCABULARY code`, for messages."""
        return f"{self.vocabulary_id} {self.concept_code}"


class ConceptSetItem(ConceptRef):
    """An item of a concept set, like OHDSI's ConceptSetItem (includeMapped is not supported).

    `as_is`: match this concept's own id even where the site's vocabulary marks it non-standard, never its
    'Maps to' targets (Circe's meaning of a non-standard item: in a conformant CDM's standard columns it matches
    nothing). Without it a non-standard code resolves through 'Maps to' (docs/cohort-definitions.md §3).
    """

    include_descendants: bool = False
    exclude: bool = False
    as_is: bool = False


class ConceptSet(_Strict):
    """Named set of concepts: included items (with descendants if asked) minus excluded items."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = ""
    items: list[ConceptSetItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_included_item(self) -> Self:
        if all(item.exclude for item in self.items):
            raise ValueError("a concept set needs at least one item that is not excluded")
        return self


class ValueRange(_Strict):
    """Bounds on measurement.value_as_number (gt/gte/lt/lte) and/or the unit it must be recorded in."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    unit: ConceptRef | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.gt is not None and self.gte is not None:
            raise ValueError("give at most one lower bound (gt or gte)")
        if self.lt is not None and self.lte is not None:
            raise ValueError("give at most one upper bound (lt or lte)")
        if all(b is None for b in (self.gt, self.gte, self.lt, self.lte)) and self.unit is None:
            raise ValueError("give a bound (gt, gte, lt, lte) or a unit")
        low = self.gt if self.gt is not None else self.gte
        high = self.lt if self.lt is not None else self.lte
        if low is not None and high is not None and low > high:
            raise ValueError(f"lower bound {low} is above upper bound {high}")
        return self


class AgeRange(_Strict):
    """Age at index in whole years (year of index minus year of birth), both bounds inclusive."""

    min: int | None = Field(default=None, ge=0, le=130)
    max: int | None = Field(default=None, ge=0, le=130)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("give min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ObservationWindow(_Strict):
    """Days of continuous observation required before and after the index date (OHDSI ObservationWindow)."""

    prior_days: int = Field(default=0, ge=0)
    post_days: int = Field(default=0, ge=0)


def _value_only_for_measurement(domain: str, value: ValueRange | None) -> None:
    if value is not None and domain != "measurement":
        raise ValueError(f"value is only supported for the measurement domain, not {domain}")


class IndexCriterion(_Strict):
    """A further primary criterion (OHDSI's PrimaryCriteria.CriteriaList[1…]): its events are index candidates too."""

    domain: Domain
    concept_set: str
    value: ValueRange | None = None

    @model_validator(mode="after")
    def _value_domain(self) -> Self:
        _value_only_for_measurement(self.domain, self.value)
        return self


class IndexEvent(_Strict):
    """Primary criteria: events of a concept set in one domain (or several, `also`), restricted by observation,
    age and sex; `occurrence` picks among the events of all the criteria together."""

    domain: Domain
    concept_set: str
    occurrence: Literal["first", "all"] = "first"
    value: ValueRange | None = None
    age: AgeRange | None = None
    sex: list[Sex] | None = Field(default=None, min_length=1)
    observation_window: ObservationWindow = ObservationWindow()
    also: list[IndexCriterion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _value_domain(self) -> Self:
        _value_only_for_measurement(self.domain, self.value)
        return self


class Window(_Strict):
    """Days relative to the index date (day 0), both ends inclusive; None leaves that side unbounded."""

    start_days: int | None
    end_days: int | None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start_days is not None and self.end_days is not None and self.start_days > self.end_days:
            raise ValueError(f"start_days {self.start_days} is after end_days {self.end_days}")
        return self


class Occurrence(_Strict):
    """How many events the window must hold (OHDSI Occurrence: exactly / at most / at least)."""

    type: Literal["at_least", "at_most", "exactly"]
    count: int = Field(ge=0)

    @model_validator(mode="after")
    def _not_trivial(self) -> Self:
        if self.type == "at_least" and self.count == 0:
            raise ValueError("at_least 0 is always true; use at_least 1, or exactly 0 to exclude")
        return self


class InclusionRule(_Strict):
    """One inclusion rule: a count of a concept set's events in a window around index (OHDSI InclusionRule)."""

    name: str = Field(min_length=1)
    domain: Domain
    concept_set: str
    window: Window
    occurrence: Occurrence = Occurrence(type="at_least", count=1)
    value: ValueRange | None = None
    # OHDSI's IgnoreObservationPeriod: count events outside the index's observation period too ("all time prior")
    ignore_observation_period: bool = False

    @model_validator(mode="after")
    def _value_domain(self) -> Self:
        _value_only_for_measurement(self.domain, self.value)
        return self


class GroupCriterion(_Strict):
    """One correlated criterion inside a criteria group: an inclusion rule's count, without a name."""

    domain: Domain
    concept_set: str
    window: Window
    occurrence: Occurrence = Occurrence(type="at_least", count=1)
    value: ValueRange | None = None
    ignore_observation_period: bool = False

    @model_validator(mode="after")
    def _value_domain(self) -> Self:
        _value_only_for_measurement(self.domain, self.value)
        return self


class CriteriaGroup(_Strict):
    """OHDSI's CriteriaGroup: holds when all, any, at least `count` or at most `count` of its members hold
    (members: its criteria, then its nested groups; circe-be's groupQuery counts the members that match)."""

    type: Literal["all", "any", "at_least", "at_most"]
    count: int | None = Field(default=None, ge=0)
    criteria: list[GroupCriterion] = Field(default_factory=list)
    groups: list[CriteriaGroup] = Field(default_factory=list)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if not self.criteria and not self.groups:
            raise ValueError("a group needs at least one criterion or group")
        if (self.count is None) == (self.type in ("at_least", "at_most")):
            raise ValueError("count is given exactly for at_least and at_most")
        return self

    def members(self, path: str) -> list[tuple[str, GroupCriterion]]:
        """Every criterion in this group and its nested groups, with its JSON path under `path`."""
        out = [(f"{path}.criteria[{j}]", c) for j, c in enumerate(self.criteria)]
        for k, g in enumerate(self.groups):
            out += g.members(f"{path}.groups[{k}]")
        return out


class GroupRule(_Strict):
    """An inclusion rule that is a criteria group (OHDSI's InclusionRule.expression with nested Groups)."""

    name: str = Field(min_length=1)
    group: CriteriaGroup


def _rule_kind(value: Any) -> str:
    return "group_rule" if isinstance(value, GroupRule) or (isinstance(value, dict) and "group" in value) else "rule"


Rule = Annotated[
    Annotated[InclusionRule, Tag("rule")] | Annotated[GroupRule, Tag("group_rule")], Discriminator(_rule_kind)
]


def rule_criteria(rules: list[InclusionRule | GroupRule]) -> list[tuple[str, InclusionRule | GroupCriterion]]:
    """Every criterion of the inclusion rules (a group's, nested ones too), with its JSON path."""
    out: list[tuple[str, InclusionRule | GroupCriterion]] = []
    for i, r in enumerate(rules):
        if isinstance(r, GroupRule):
            out += r.group.members(f"inclusion_rules[{i}].group")
        else:
            out.append((f"inclusion_rules[{i}]", r))
    return out


class FixedOffsetExit(_Strict):
    """Cohort end = the index event's start (or end) date + days, never after the observation period's end.

    `date_field: end_date` is OHDSI's DateOffset on EndDate: the index event's own end date, or circe's fallback
    where the CDM has none (start + 1 day; drugs: start + days_supply first). See docs/cohort-definitions.md §8.
    """

    type: Literal["fixed_offset"]
    days: int = Field(ge=0)
    date_field: Literal["start_date", "end_date"] = "start_date"


class ObservationEndExit(_Strict):
    """Cohort end = end of the observation period that holds the index date (OHDSI's default)."""

    type: Literal["end_of_observation"] = "end_of_observation"


Exit = Annotated[FixedOffsetExit | ObservationEndExit, Field(discriminator="type")]


class CohortDefinition(_Strict):
    """A cohort: concept sets, an index event, inclusion rules applied in order, and an exit."""

    version: Literal[1] = 1
    name: str = Field(min_length=1)
    description: str = ""
    concept_sets: list[ConceptSet] = Field(min_length=1)
    index: IndexEvent
    inclusion_rules: list[Rule] = Field(default_factory=list)
    exit: Exit = ObservationEndExit()

    @model_validator(mode="after")
    def _references(self) -> Self:
        check_concept_set_ids(self.concept_sets)
        known = {c.id for c in self.concept_sets}
        refs = [("index.concept_set", self.index.concept_set)]
        refs += [(f"index.also[{k}].concept_set", c.concept_set) for k, c in enumerate(self.index.also)]
        refs += [(f"{p}.concept_set", r.concept_set) for p, r in rule_criteria(self.inclusion_rules)]
        for path, ref in refs:
            if ref not in known:
                raise ValueError(f"{path}: unknown concept set {ref!r} (defined: {', '.join(sorted(known))})")
        return self

    def digest(self) -> str:
        """SHA-256 of the canonical JSON: sites' results can be pooled only when they ran the same definition."""
        dump = self.model_dump(mode="json")
        # Definitions written before `also`, `ignore_observation_period`, `as_is` and `date_field` keep their digest.
        if not dump["index"]["also"]:
            del dump["index"]["also"]
        for rule in dump["inclusion_rules"]:
            if not rule.get("ignore_observation_period", True):
                del rule["ignore_observation_period"]
        for cs in dump["concept_sets"]:
            for item in cs["items"]:
                if not item["as_is"]:
                    del item["as_is"]
        if dump["exit"].get("date_field") == "start_date":
            del dump["exit"]["date_field"]
        canonical = json.dumps(dump, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def check_concept_set_ids(concept_sets: list[ConceptSet]) -> None:
    """Refuse two concept sets with the same id (the second one is named)."""
    seen: set[str] = set()
    for i, cs in enumerate(concept_sets):
        if cs.id in seen:
            raise ValueError(f"concept_sets[{i}].id: duplicate concept set id {cs.id!r}")
        seen.add(cs.id)


def json_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as a JSON path: ("a", 0, "b") -> "a[0].b"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("fixed_offset", "end_of_observation", "rule", "group_rule"):
            continue  # the tag of a discriminated union is not part of the document's path
        else:
            out += f".{part}" if out else str(part)
    return out


def describe_validation_error(exc: ValidationError, file: str | None = None) -> CohortDefinitionError:
    """The first pydantic error as a CohortDefinitionError naming its JSON path (and the offending value)."""
    first = exc.errors()[0]
    path = json_path(tuple(first["loc"]))
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unsupported field (not part of dari's cohort subset, see docs/cohort-definitions.md)"
    elif not path and ": " in message:
        path, message = message.split(": ", 1)  # cross-field checks put the path at the front of their message
    value = first.get("input")
    if first["type"] != "extra_forbidden" and not isinstance(value, dict | list) and value is not None:
        message += f" (got {value!r})"
    extra = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    return CohortDefinitionError(message + extra, path=path, file=file)


def parse_definition(raw: Any, *, file: str | None = None) -> CohortDefinition:
    """Validate an already-parsed JSON document as a cohort definition."""
    try:
        return CohortDefinition.model_validate(raw)
    except ValidationError as exc:
        raise describe_validation_error(exc, file) from None


def read_json_document(source: Path | str, what: str) -> tuple[Any, str | None]:
    """Parse JSON from a file (a Path, or a str path) or from text (a str starting with `{`); return (doc, file)."""
    if isinstance(source, str) and source.lstrip().startswith("{"):
        text, file = source, None
    else:
        file = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {what}: {exc.strerror}", file=file) from None
    try:
        return json.loads(text), file
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} (column {exc.colno})", file=file, row=exc.lineno) from None


def load_definition(source: Path | str) -> CohortDefinition:
    """Read a cohort definition from a JSON file (a Path) or a JSON text (a str starting with `{`)."""
    raw, file = read_json_document(source, "cohort definition")
    return parse_definition(raw, file=file)
