"""The register of outbound records: every integer inside every registered record is protected or listed."""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from dari.disclosure import DisclosureRefusedError, DisclosureRules, ProtectedCount
from dari.federation.register import FIELD_RULES, REGISTER, recheck_release


def _leaves(annotation: Any) -> list[Any]:
    """The types an annotation can hold, through Optional, unions, tuples, lists and dict values."""
    origin = get_origin(annotation)
    if origin is None:
        return [annotation]
    if origin is typing.Literal:
        return [type(a) for a in get_args(annotation)]
    args = get_args(annotation)
    if origin is dict:
        args = args[1:]  # the keys are labels
    return [leaf for a in args if a is not Ellipsis for leaf in _leaves(a)]


def _models_and_int_fields() -> tuple[set[type[BaseModel]], set[tuple[type[BaseModel], str]]]:
    seen: set[type[BaseModel]] = set()
    ints: set[tuple[type[BaseModel], str]] = set()
    todo: list[type[BaseModel]] = [entry.record for entry in REGISTER]
    while todo:
        model = todo.pop()
        if model in seen or model in (ProtectedCount, DisclosureRules):
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            for leaf in _leaves(field.annotation):
                if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                    todo.append(leaf)
                elif leaf is int:
                    ints.add((model, name))
    return seen, ints


def test_register_every_integer_field_is_listed_with_its_rule() -> None:
    # Prepare
    models, ints = _models_and_int_fields()
    # Assert: a new integer field anywhere in an outbound record fails here until its rule is written down
    unlisted = sorted(f"{m.__name__}.{f}" for m, f in ints if (m, f) not in FIELD_RULES)
    assert unlisted == []
    assert all(rule.why for rule in FIELD_RULES.values())
    stale = sorted(f"{m.__name__}.{f}" for m, f in FIELD_RULES if m not in models or f not in m.model_fields)
    assert stale == []  # every listed rule guards a field that still exists in a registered record


def test_register_walk_reaches_the_nested_records() -> None:
    models, _ = _models_and_int_fields()
    names = {m.__name__ for m in models}
    # what the issue names as leaving a site, down to the records that carry counts
    for expected in (
        "SiteReport",
        "CalibrationReply",
        "QuerySiteReport",
        "FeasibilityResult",
        "ForecastSiteReport",
        "RecruitmentForecast",
        "MonthCount",
        "TableOne",
        "Characterisation",
        "DatasetRecord",
        "MonitoringPublication",
        "ValidationMetrics",
        "SiteSufficientStatistics",
        "SubgroupVariable",
        "ClassHistogram",
        "LivePerformance",
        "TrainStats",
        "TrainUpdate",
    ):
        assert expected in names


def test_register_refuses_a_record_type_it_does_not_list() -> None:
    class Smuggled(BaseModel):
        rows: list[int]

    with pytest.raises(DisclosureRefusedError, match="not a record type"):
        recheck_release(Smuggled(rows=[1, 2]), DisclosureRules())


def test_register_the_walk_treats_python_annotations_as_pydantic_does() -> None:
    # the walker above must see through `X | None` (types.UnionType), not only typing.Optional
    assert int in _leaves(int | None) and int in _leaves(typing.Optional[int])  # noqa: UP045
    assert isinstance(int | None, types.UnionType)


def test_register_recheck_refuses_a_forecast_released_under_weaker_rules() -> None:
    # Prepare: a site's forecast report whose counts were protected with min_cell 3 (the reader holds 10)
    from dari.cohort.forecast import MonthCount, RecruitmentForecast
    from dari.disclosure import protect_count
    from dari.federation.forecast_job import ForecastSiteReport

    def report(rules: DisclosureRules) -> ForecastSiteReport:
        forecast = RecruitmentForecast(
            site="site-1",
            definition_name="d",
            definition_digest="0" * 64,
            rules=rules,
            lookback_months=12,
            horizon_months=6,
            level=0.9,
            model="poisson-gamma",
            data_through="2026-01",
            lookback_persons=protect_count(40, rules),
            monthly=[MonthCount(month="2026-01", persons=protect_count(4, rules))],
            expected=protect_count(25, rules),
            low=protect_count(15, rules),
            high=protect_count(35, rules),
        )
        return ForecastSiteReport(site_id="site-1", status="ok", forecast=forecast)

    # Execute / Assert: the weak one is refused by the field path; one under the reader's rules passes
    with pytest.raises(DisclosureRefusedError, match="forecast"):
        recheck_release(report(DisclosureRules(min_cell=3)), DisclosureRules())
    recheck_release(report(DisclosureRules()), DisclosureRules())
