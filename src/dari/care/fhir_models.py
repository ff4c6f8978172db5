"""The part of FHIR R4 the CDS service reads, as light pydantic models checked by FHIR's own rules.

Every element the mapping reads is typed and checked as R4 defines its primitive type (id, code, uri, decimal,
date, dateTime, instant: the patterns fhir.resources uses); required elements must be there; a choice element
(`value[x]`, `effective[x]`, `onset[x]`, …) carries one type only; and every other key must be an element R4
defines at that place (names taken from fhir.resources' R4B classes), so a misspelt or invented element is refused
as the full validation refuses it. What is not checked is the inside of elements nothing reads (`note`,
`referenceRange`, `name`, …): they cannot change a score. That keeps the guarantees that matter for scoring at
about a tenth of the cost of validating whole resources with fhir.resources (about 1.7 ms per reference prefetch,
the largest single cost of a hook call); `CdsSettings.strict_fhir` still runs the full validation on request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from fhir.resources.R4B import bundle as r4_bundle
from fhir.resources.R4B import codeableconcept as r4_codeableconcept
from fhir.resources.R4B import coding as r4_coding
from fhir.resources.R4B import condition as r4_condition
from fhir.resources.R4B import observation as r4_observation
from fhir.resources.R4B import patient as r4_patient
from fhir.resources.R4B import period as r4_period
from fhir.resources.R4B import quantity as r4_quantity
from fhir.resources.R4B import reference as r4_reference
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, create_model, model_validator

# R4 primitive types (https://hl7.org/fhir/R4/datatypes.html), with the patterns fhir.resources checks.
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[^\s]+(\s[^\s]+)*$")]
Uri = Annotated[str, StringConstraints(pattern=r"^\S*$")]
FhirString = Annotated[str, StringConstraints(min_length=1)]
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_DATE = re.compile(_YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?")
_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|([+\-])((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_DATE_TIME = re.compile(_YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(" + _TIME + r")?)?)?")
_INSTANT = re.compile(_YEAR + r"-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])" + _TIME)


def _decimal(value: Any) -> float:
    """A JSON number (not a boolean, not a string, finite)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Decimal value must be a JSON number")
    if not math.isfinite(value):
        raise ValueError("Decimal value must be finite")
    return float(value)


def _temporal(kind: str, pattern: re.Pattern[str]) -> Callable[[Any], date | datetime | str]:
    """A date-like primitive: a full date-time → aware datetime, a full date → date, a partial date → its text
    (the types fhir.resources gives, which the mapping reads)."""

    def parse(value: Any) -> date | datetime | str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(f"{kind} value string does not match spec regex.")
        try:
            if "T" in value:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            if len(value) == 10:
                return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{kind} value {value!r} is not a real date") from None
        return value  # YYYY or YYYY-MM: kept as text; the mapping knows the span it denotes

    return parse


Decimal = Annotated[float, BeforeValidator(_decimal)]
FhirDate = Annotated[date | str, BeforeValidator(_temporal("Date", _DATE))]
FhirDateTime = Annotated[datetime | date | str, BeforeValidator(_temporal("DateTime", _DATE_TIME))]
FhirInstant = Annotated[datetime, BeforeValidator(_temporal("Instant", _INSTANT))]
Model = TypeVar("Model", bound="Element")


class Element(BaseModel):
    """A FHIR element: typed fields for what is read, every other R4 element of its type accepted unread."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fhir_choices: ClassVar[dict[str, tuple[str, ...]]] = {}  # choice prefix → its R4 element names
    fhir_attributes: ClassVar[dict[str, str]] = {}  # R4 element name → attribute holding it
    fhir_choice_attributes: ClassVar[dict[str, frozenset[str]]] = {}  # choice prefix → attributes holding it

    def element(self, name: str) -> Any:
        """The value of an R4 element by its JSON name, read or not (None when absent)."""
        return getattr(self, type(self).fhir_attributes.get(name, name), None)

    def _given(self, prefix: str) -> list[str]:
        """The elements of a choice group present with a value (set-intersection first: this runs per element)."""
        cls = type(self)
        attributes = cls.fhir_choice_attributes.get(prefix, frozenset()) & self.model_fields_set
        return [
            n for n in cls.fhir_choices[prefix] if cls.fhir_attributes[n] in attributes and self.element(n) is not None
        ]

    @model_validator(mode="after")
    def _one_choice(self) -> Element:
        for prefix, names in type(self).fhir_choices.items():
            given = self._given(prefix)
            if len(given) > 1:
                raise ValueError(f"only one of {', '.join(names)} may be given, got {', '.join(given)}")
        return self


def r4_elements(r4_class: type[BaseModel]) -> Callable[[type[Model]], type[Model]]:
    """Class decorator: add every element `r4_class` defines that the light class does not type, as an unread
    field under its JSON name, and record the class's choice groups."""

    def extend(cls: type[Model]) -> type[Model]:
        typed = set(cls.model_fields)
        unread: dict[str, Any] = {}
        attributes = {name: name for name in typed}
        choices: dict[str, list[str]] = {}
        for name, info in r4_class.model_fields.items():
            key = info.alias or name
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if isinstance(extra.get("one_of_many"), str):
                choices.setdefault(str(extra["one_of_many"]), []).append(key)
            if key not in typed:
                attributes[key] = f"r4_{key.lstrip('_')}{'_ext' if key.startswith('_') else ''}"
                unread[attributes[key]] = (Any, Field(None, alias=key))
        full = create_model(cls.__name__, __base__=cls, __module__=cls.__module__, __doc__=cls.__doc__, **unread)
        full.fhir_choices = {prefix: tuple(names) for prefix, names in choices.items()}
        full.fhir_attributes = attributes
        full.fhir_choice_attributes = {p: frozenset(attributes[n] for n in names) for p, names in choices.items()}
        return full

    return extend


@r4_elements(r4_coding.Coding)
class Coding(Element):
    """Coding: system and code."""

    system: Uri | None = None
    code: Code | None = None


@r4_elements(r4_codeableconcept.CodeableConcept)
class CodeableConcept(Element):
    """CodeableConcept: its codings."""

    coding: tuple[Coding, ...] | None = None


@r4_elements(r4_quantity.Quantity)
class Quantity(Element):
    """Quantity: value, comparator and UCUM unit."""

    value: Decimal | None = None
    comparator: Code | None = None
    system: Uri | None = None
    code: Code | None = None


@r4_elements(r4_reference.Reference)
class Reference(Element):
    """Reference: the literal reference."""

    reference: FhirString | None = None


@r4_elements(r4_period.Period)
class Period(Element):
    """Period: start and end."""

    start: FhirDateTime | None = None
    end: FhirDateTime | None = None


class Resource(Element):
    """A resource: its type and id."""

    resourceType: str  # noqa: N815 (FHIR's name)
    id: Id | None = None


@r4_elements(r4_patient.Patient)
class Patient(Resource):
    """Patient: gender and birth date."""

    resourceType: Literal["Patient"]  # noqa: N815
    gender: Code | None = None
    birthDate: FhirDate | None = None  # noqa: N815


class _Valued(Element):
    """An element with a `value[x]`: an Observation or one of its components."""

    code: CodeableConcept
    valueQuantity: Quantity | None = None  # noqa: N815

    def other_value(self) -> str | None:
        """The name of the `value[x]` element used when it is not a Quantity."""
        return next((n for n in self._given("value") if n != "valueQuantity"), None)


@r4_elements(r4_observation.ObservationComponent)
class ObservationComponent(_Valued):
    """One component of a panel (systolic pressure in a blood-pressure panel): its code and value."""


@r4_elements(r4_observation.Observation)
class Observation(Resource, _Valued):
    """Observation: status, code, subject, when, a quantity value and the panel's components."""

    resourceType: Literal["Observation"]  # noqa: N815
    status: Code
    subject: Reference | None = None
    effectiveDateTime: FhirDateTime | None = None  # noqa: N815
    effectiveInstant: FhirInstant | None = None  # noqa: N815
    effectivePeriod: Period | None = None  # noqa: N815
    component: tuple[ObservationComponent, ...] | None = None


@r4_elements(r4_condition.Condition)
class Condition(Resource):
    """Condition: subject, code, clinical and verification status, when it began and when it abated."""

    resourceType: Literal["Condition"]  # noqa: N815
    subject: Reference
    code: CodeableConcept | None = None
    clinicalStatus: CodeableConcept | None = None  # noqa: N815
    verificationStatus: CodeableConcept | None = None  # noqa: N815
    onsetDateTime: FhirDateTime | None = None  # noqa: N815
    onsetPeriod: Period | None = None  # noqa: N815
    abatementDateTime: FhirDateTime | None = None  # noqa: N815
    abatementPeriod: Period | None = None  # noqa: N815
    recordedDate: FhirDateTime | None = None  # noqa: N815


@r4_elements(r4_bundle.BundleEntrySearch)
class BundleEntrySearch(Element):
    """Why an entry is in a searchset."""

    mode: Code | None = None


@r4_elements(r4_bundle.BundleEntry)
class BundleEntry(Element):
    """One entry; its resource is checked by its own type afterwards (so errors name the entry)."""

    resource: dict[str, Any] | None = None
    search: BundleEntrySearch | None = None


@r4_elements(r4_bundle.Bundle)
class Bundle(Resource):
    """Bundle: type and entries."""

    resourceType: Literal["Bundle"]  # noqa: N815
    type: Code
    entry: tuple[BundleEntry, ...] | None = None


RESOURCE_TYPES: dict[str, type[Resource]] = {"Patient": Patient, "Observation": Observation, "Condition": Condition}
