"""The register of every record type that may leave a site, and the re-check a reader (the hub) runs on each.

`REGISTER` names each outbound record type, how it leaves and what guards it. Inside those records a count is a
`ProtectedCount` (self-checking, held to the reader's rules by `check_protected`) or a raw integer whose rule is
listed in `FIELD_RULES` by (record type, field): exact statistics a site releases only above the minimum cell
(`require_min_cell`), histogram cells of at least that size, rounded values, or integers that are not counts of
persons at all (a concept id, an HTTP status, a number of subgroup levels), each with the reason.
`recheck_release` walks a record and refuses the first count that breaks its rule, or any integer the register
does not know, naming the field path and never the value; `admit_site_reply` parses a site's reply and turns an
unreadable or refused one into a failed report for that site, so nothing that fails is pooled or shown.
A test walks the register: every integer field of every nested model must be listed here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from dari.catalog.characterise import Characterisation, ConceptCount
from dari.catalog.dataset import DatasetRecord
from dari.cohort.feasibility import FeasibilityResult
from dari.cohort.forecast import RecruitmentForecast
from dari.disclosure import DisclosureRefusedError, DisclosureRules, ProtectedCount, check_protected
from dari.federation.flower.jobs import CalibrationReply, SiteReport
from dari.federation.flower.query_jobs import QuerySiteReport
from dari.federation.flower.train_jobs import TrainStats, TrainUpdate
from dari.federation.forecast_job import ForecastSiteReport
from dari.monitoring.drift import DriftResult, DriftThresholds
from dari.monitoring.publication import (
    InferenceEntry,
    LivePerformance,
    MonitoringPolicy,
    MonitoringPublication,
    ServiceActivity,
)
from dari.validation import (
    AurocResult,
    BrierScore,
    CalibrationBin,
    ConfusionCounts,
    FairnessGap,
    LogisticStepStats,
    Proportion,
    SiteSufficientStatistics,
    ValidationMetrics,
)
from dari.validation.histogram import ClassHistogram

Rule = Literal[
    "min_cell", "events", "cells", "min_cell_or_none", "rounded_or_none", "shown", "floor", "operational", "not_a_count"
]
Record = TypeVar("Record", bound=BaseModel)


@dataclass(frozen=True)
class Outbound:
    """One record type that may leave a site: how it leaves and what guards its counts."""

    record: type[BaseModel]
    leaves_by: str
    guard: str


#: Every record type that may leave a site.
REGISTER: tuple[Outbound, ...] = (
    Outbound(SiteReport, "validation, round 1 (query.validate)", "ProtectedCount cohort; metrics above min_cell"),
    Outbound(CalibrationReply, "validation, each Newton round (query.calibrate)", "n, events above min_cell"),
    Outbound(QuerySiteReport, "feasibility / Table 1 (query.cohort)", "every count a ProtectedCount"),
    Outbound(ForecastSiteReport, "recruitment forecast (portal site connector)", "every count a ProtectedCount"),
    Outbound(Characterisation, "catalog publication (dari hub publish)", "every count a ProtectedCount"),
    Outbound(DatasetRecord, "catalog publication (dari hub publish)", "record counts as shown protected values"),
    Outbound(MonitoringPublication, "monitoring (dari monitor publish)", "live n / events rounded or suppressed"),
    Outbound(
        TrainStats, "training, admission round (query.train_stats)", "n, events ProtectedCount; moments ≥ min_cell"
    ),
    Outbound(TrainUpdate, "training, each round (train)", "parameters over ≥ min_cell rows; weight a rounded count"),
)


@dataclass(frozen=True)
class FieldRule:
    """The rule a raw integer (or shown-count text) field obeys, and why it may leave in that form."""

    rule: Rule
    why: str


_EXACT = "an exact statistic released only when its events and non-events reach min_cell (require_min_cell)"
_CELL = "a cell of the released 2×2 table or its margin, withheld below min_cell (protect_metrics)"
_OPERATIONAL = "a count of service calls, not persons; the same calls are in the site's per-call inference audit"

#: Every raw integer field of a registered record, with the rule that guards it.
FIELD_RULES: dict[tuple[type[BaseModel], str], FieldRule] = {
    (ValidationMetrics, "n"): FieldRule("min_cell", _EXACT),
    (ValidationMetrics, "events"): FieldRule("events", _EXACT),
    (BrierScore, "n"): FieldRule("min_cell", _EXACT),
    (BrierScore, "events"): FieldRule("events", _EXACT),
    (AurocResult, "n_positive"): FieldRule("min_cell", "the site's events, at least min_cell"),
    (AurocResult, "n_negative"): FieldRule("min_cell", "the site's non-events, at least min_cell"),
    (ConfusionCounts, "tp"): FieldRule("min_cell", _CELL),
    (ConfusionCounts, "fp"): FieldRule("min_cell", _CELL),
    (ConfusionCounts, "fn"): FieldRule("min_cell", _CELL),
    (ConfusionCounts, "tn"): FieldRule("min_cell", _CELL),
    (Proportion, "numerator"): FieldRule("min_cell", _CELL),
    (Proportion, "denominator"): FieldRule("min_cell", _CELL),
    (CalibrationBin, "n"): FieldRule("min_cell_or_none", "a curve bin; the site leaves the bins out"),
    (CalibrationBin, "events"): FieldRule("min_cell_or_none", "a curve bin; the site leaves the bins out"),
    (FairnessGap, "levels"): FieldRule("not_a_count", "how many subgroup levels had a value"),
    (SiteSufficientStatistics, "n"): FieldRule("min_cell", _EXACT),
    (SiteSufficientStatistics, "events"): FieldRule("events", _EXACT),
    (SiteSufficientStatistics, "min_cell"): FieldRule("floor", "the minimum cell the site applied: not below ours"),
    (ClassHistogram, "counts"): FieldRule("cells", "each class bin holds at least min_cell of its class"),
    (ClassHistogram, "score_decimals"): FieldRule("not_a_count", "the model's declared score resolution"),
    (LogisticStepStats, "n"): FieldRule("min_cell", _EXACT),
    (LogisticStepStats, "events"): FieldRule("events", _EXACT),
    (FeasibilityResult, "age_band_years"): FieldRule("not_a_count", "the width of the age bands (5 or 10)"),
    (RecruitmentForecast, "lookback_months"): FieldRule("not_a_count", "months of history the job asked for"),
    (RecruitmentForecast, "horizon_months"): FieldRule("not_a_count", "months ahead the job asked for"),
    (ConceptCount, "concept_id"): FieldRule("not_a_count", "an OMOP standard concept id"),
    (DatasetRecord, "number_of_records"): FieldRule("shown", "a protected count as shown"),
    (DatasetRecord, "number_of_unique_individuals"): FieldRule("shown", "a protected count as shown"),
    (DatasetRecord, "min_typical_age"): FieldRule("not_a_count", "the lowest age band with a released cell"),
    (DatasetRecord, "max_typical_age"): FieldRule("not_a_count", "the highest age band with a released cell"),
    (MonitoringPublication, "schema_version"): FieldRule("not_a_count", "the publication's schema version"),
    (MonitoringPolicy, "min_outcomes"): FieldRule("not_a_count", "a policy setting"),
    (MonitoringPolicy, "window_days"): FieldRule("not_a_count", "a policy setting"),
    (DriftThresholds, "min_current"): FieldRule("not_a_count", "a policy setting"),
    (DriftResult, "n_reference"): FieldRule("operational", "values in the model's validated reference sample"),
    (DriftResult, "n_current"): FieldRule("operational", _OPERATIONAL),
    (ServiceActivity, "calls"): FieldRule("operational", _OPERATIONAL),
    (ServiceActivity, "scored"): FieldRule("operational", _OPERATIONAL),
    (ServiceActivity, "refused_by_status"): FieldRule("operational", _OPERATIONAL),
    (ServiceActivity, "cards_by_indicator"): FieldRule("operational", _OPERATIONAL),
    (ServiceActivity, "feedback_accepted"): FieldRule("operational", _OPERATIONAL),
    (ServiceActivity, "feedback_overridden"): FieldRule("operational", _OPERATIONAL),
    (LivePerformance, "n"): FieldRule("rounded_or_none", "outcomes in the window, rounded or suppressed"),
    (LivePerformance, "events"): FieldRule("rounded_or_none", "events in the window, rounded or suppressed"),
    (InferenceEntry, "status"): FieldRule("not_a_count", "an HTTP status"),
    (TrainUpdate, "num_examples"): FieldRule(
        "rounded_or_none", "the training cohort's protected size (FedAvg's weight)"
    ),
}


def _refuse(path: str, why: str) -> DisclosureRefusedError:
    return DisclosureRefusedError(f"{path}: {why}")


def _ints(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [(f".{str(k)[:32]}", v) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [(f"[{i}]", v) for i, v in enumerate(value)]
    return [("", value)]


def _on_grid(value: int, rules: DisclosureRules) -> bool:
    return value >= rules.min_cell and (value % rules.rounding_base == 0 or value == rules.min_cell)


def _check_int(model: BaseModel, value: Any, rule: Rule, rules: DisclosureRules, path: str) -> None:
    """One listed field against its rule; the message names the rule, never the value."""
    m = rules.min_cell
    for suffix, item in _ints(value):
        where = path + suffix
        if rule in ("operational", "not_a_count") or (item is None and rule in ("min_cell_or_none", "rounded_or_none")):
            continue
        if rule == "shown":
            digits = isinstance(item, str) and item.isascii() and item.isdigit()
            if not isinstance(item, str) or not (item == f"<{m}" or (digits and _on_grid(int(item), rules))):
                raise _refuse(where, f'a count shown neither as "<{m}" nor as a rounded value of at least {m}')
            continue
        if isinstance(item, bool) or not isinstance(item, int):
            raise _refuse(where, "a count must be an integer")
        if rule == "floor" and item < m:
            raise _refuse(where, f"released under a minimum cell below {m}")
        if rule in ("min_cell", "min_cell_or_none", "cells", "events") and item < m:
            raise _refuse(where, f"a released count below the minimum cell size {m}")
        if rule == "events" and getattr(model, "n", None) is not None and model.n - item < m:  # type: ignore[attr-defined]
            raise _refuse(where, f"fewer than {m} non-events beside these events")
        if rule == "rounded_or_none" and not _on_grid(item, rules):
            raise _refuse(where, f"a count neither suppressed nor rounded to {rules.rounding_base} above {m}")


def _subtree_rules(model: BaseModel, rules: DisclosureRules, path: str) -> DisclosureRules:
    """A record that names the rules it applied must name rules at least as strict as ours; then its own apply."""
    declared = getattr(model, "rules", None)
    if isinstance(declared, DisclosureRules):
        if declared.min_cell < rules.min_cell or declared.rounding_base < rules.rounding_base:
            raise _refuse(f"{path}.rules", f"weaker than the reader's {rules.min_cell} / {rules.rounding_base}")
        return declared
    floor = getattr(model, "min_cell", None)
    if isinstance(model, SiteSufficientStatistics) and isinstance(floor, int) and floor > rules.min_cell:
        return rules.model_copy(update={"min_cell": floor})
    return rules


def _walk(value: Any, rules: DisclosureRules, path: str) -> None:
    if isinstance(value, ProtectedCount):
        check_protected(value, rules, path)
    elif isinstance(value, DisclosureRules):
        return  # checked by _subtree_rules where it is named
    elif isinstance(value, BaseModel):
        here = _subtree_rules(value, rules, path)
        for name in type(value).model_fields:
            item = getattr(value, name)
            listed = FIELD_RULES.get((type(value), name))
            if listed is not None:
                _check_int(value, item, listed.rule, here, f"{path}.{name}")
            else:
                _walk(item, here, f"{path}.{name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, rules, f"{path}.{str(key)[:32]}")  # labels chosen by the site: never echo much of one
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _walk(item, rules, f"{path}[{i}]")
    elif isinstance(value, int) and not isinstance(value, bool):
        raise _refuse(path, "a raw integer the register of outbound records does not list")


def recheck_release(record: BaseModel, rules: DisclosureRules) -> None:
    """Refuse (`DisclosureRefusedError`, naming the field path) a release whose counts break `rules` or the register."""
    if not any(isinstance(record, entry.record) for entry in REGISTER):
        raise _refuse(type(record).__name__, "not a record type that may leave a site")
    _walk(record, rules, type(record).__name__)


def _failed(record_type: type[Record], raw: Any, reason: str) -> Record:
    """The reply as a failure of the site it names (what else it names is kept only if it is short text)."""
    given = raw if isinstance(raw, dict) else {}
    site = given.get("site_id")
    data: dict[str, Any] = {"site_id": site[:64] if isinstance(site, str) and site else "unknown"}
    data |= {"status": "failed", "reason": reason}
    for key in ("dataset_id", "grant_id"):
        if key in record_type.model_fields and isinstance(given.get(key), str):
            data[key] = given[key][:128]
    return record_type.model_validate(data)


def admit_site_reply(record_type: type[Record], payload: str, rules: DisclosureRules) -> Record:
    """A site's reply parsed and re-checked; an unreadable or refused one comes back as that site's failure.

    The reason names the fields that failed and the rule, never a value the site sent.
    """
    try:
        raw = json.loads(payload)
    except ValueError:
        raw = None
    try:
        reply = record_type.model_validate_json(payload)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "record" for e in exc.errors()})[:5]
        return _failed(record_type, raw, f"hub re-check: unreadable {record_type.__name__} ({', '.join(fields)})")
    try:
        recheck_release(reply, rules)
    except DisclosureRefusedError as exc:
        return _failed(record_type, raw, f"hub re-check refused the release: {exc}")
    return reply
