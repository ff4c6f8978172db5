"""Attacks on what leaves a site: counts that say one thing and show another, small cells smuggled past the site's
disclosure control by a hostile site or a man in the middle, and the hub storing or pooling them anyway.

Before: `ProtectedCount(shown="3", value=3, suppressed=False)` parsed; the hub pooled any report that parsed and
stored any characterisation or monitoring window it was sent. Now: a count checks itself against the rules it
names, and the hub re-checks every release it ingests against the register of outbound records
(`dari.federation.register`): a release that fails is that site's failure, or refused whole, never pooled or kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from pydantic import BaseModel, ValidationError
from release_examples import (
    MODEL_SHA,
    RULES,
    calibration_reply,
    characterisation,
    every_example,
    feasibility_report,
    monitoring_publication,
    site_report,
    table_one_report,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import dari.hub.governance.users as users_module
from dari.catalog.characterise import Characterisation
from dari.disclosure import DisclosureRefusedError, DisclosureRules, ProtectedCount
from dari.federation.flower.jobs import CalibrationReply, SiteReport
from dari.federation.flower.query_apps import pool_reports
from dari.federation.flower.query_jobs import QueryRequest, QuerySiteReport
from dari.federation.register import admit_site_reply, recheck_release
from dari.hub.catalog import get_dataset, publish_dataset
from dari.hub.db.engine import make_engine, migrate, session_factory
from dari.hub.db.models import Dataset, MonitoringPublicationRecord
from dari.hub.governance.deployment import register_model
from dari.hub.governance.users import get_user
from dari.hub.monitoring import ingest_publication
from dari.hub.monitoring_checks import PublicationError
from dari.hub.seed import publish_samples, sample_record, seed_consortium
from dari.monitoring.publication import MonitoringPublication

SMALL = {"shown": "4", "value": 4, "suppressed": False, "rules": {"min_cell": 1, "rounding_base": 1}}
Edit = Callable[[dict[str, Any]], None]


def _forged(record: BaseModel, edit: Edit) -> str:
    """The record as JSON on the wire, changed by hand the way a hostile site or a man in the middle would."""
    data = json.loads(record.model_dump_json())
    edit(data)
    return json.dumps(data)


def _set(path: tuple[str | int, ...], value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


# -- the count itself ------------------------------------------------------------------------------------------


def test_attack_inconsistent_count_refused_when_constructed() -> None:
    """A site builds its report with a count of 3 shown as released. Before: it parsed and left the site.
    Now: a count is checked against the rules it names (default 10 / 5) as it is made."""
    with pytest.raises(ValidationError, match="at least 10"):
        ProtectedCount(shown="3", value=3, suppressed=False)
    with pytest.raises(ValidationError):
        SiteReport.model_validate(
            {"site_id": "site-1", "status": "failed", "cohort": {"shown": "3", "value": 3, "suppressed": False}}
        )
    for variant in (
        {"shown": "<10", "value": 3, "suppressed": True},  # "suppressed" but the value rides along
        {"shown": "<10", "value": 3, "suppressed": False},
        {"shown": "10", "value": 13, "suppressed": False},  # shows one number, carries another
        {"shown": "13", "value": 13, "suppressed": False},  # off the rounding grid
    ):
        with pytest.raises(ValidationError):
            ProtectedCount.model_validate(variant)


def test_attack_count_naming_weak_rules_refused_by_the_reader() -> None:
    """The site names rules that allow its small cell (min_cell 1). Before: nothing compared them with the job's.
    Now: the count parses (it is consistent) but the hub's re-check refuses rules weaker than its own."""
    report = SiteReport.model_validate_json(_forged(site_report(), _set(("cohort",), SMALL)))
    with pytest.raises(DisclosureRefusedError, match=r"SiteReport\.cohort: protected under a minimum cell below 10"):
        recheck_release(report, RULES)


# -- the register over every record type -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(every_example()))
def test_register_accepts_every_correctly_protected_example(name: str) -> None:
    recheck_release(every_example()[name], RULES)  # raises if the site's own protection failed the hub's check


SMUGGLED: dict[str, tuple[Callable[[], BaseModel], Edit, str]] = {
    "validation cohort": (site_report, _set(("cohort",), SMALL), "SiteReport.cohort"),
    "validation 2x2 cell": (site_report, _set(("metrics", "threshold", "counts", "tp"), 4), "counts.tp"),
    "validation events": (site_report, _set(("metrics", "events"), 4), "metrics.events"),
    "validation non-events": (site_report, lambda d: d["metrics"].update(n=d["metrics"]["events"] + 4), "events"),
    "subgroup events": (site_report, _set(("subgroups", 0, "levels", 0, "metrics", "auroc", "n_positive"), 4), "n_pos"),
    "stats min_cell": (site_report, _set(("statistics", "min_cell"), 3), "statistics.min_cell"),
    "newton round events": (calibration_reply, _set(("steps", 0, "events"), 4), "steps[0].events"),
    "feasibility stratum": (feasibility_report, _set(("feasibility", "by_age_band", 0, "persons"), SMALL), "persons"),
    "feasibility rules": (feasibility_report, _set(("feasibility", "rules", "min_cell"), 1), "feasibility.rules"),
    "table one comorbidity": (table_one_report, _set(("table_one", "comorbidities", 2, "persons"), SMALL), "persons"),
    "table one histogram": (
        table_one_report,
        _set(("table_one", "age", "histogram", 0, "persons"), SMALL),
        "age.histogram[0]",
    ),
    "catalog age-sex cell": (characterisation, _set(("age_sex", 1, "persons"), SMALL), "age_sex[1].persons"),
    "catalog record": (
        lambda: sample_record("site-1", "t", "t", "d", "d"),
        _set(("number_of_unique_individuals",), "7"),
        "number_of_unique_individuals",
    ),
    "catalog record digits": (
        lambda: sample_record("site-1", "t", "t", "d", "d"),
        _set(("number_of_records",), "\u0661\u0665"),  # Arabic-Indic "15": isdigit() is not enough
        "number_of_records",
    ),
    "monitoring outcomes": (monitoring_publication, _set(("windows", 0, "performance", "events"), 3), "events"),
    "monitoring unrounded": (monitoring_publication, _set(("windows", 0, "performance", "n"), 243), "performance.n"),
}


@pytest.mark.parametrize("case", sorted(SMUGGLED))
def test_register_refuses_a_small_cell_smuggled_into_each_record(case: str) -> None:
    """A count below the floor (or off the grid, or under weaker rules) edited into a valid release on the wire.
    Before: it parsed and was pooled or stored. Now: the re-check refuses it and names the field, not the value."""
    build, edit, where = SMUGGLED[case]
    honest = build()
    forged = type(honest).model_validate_json(_forged(honest, edit))  # still a well-formed record
    with pytest.raises(DisclosureRefusedError) as caught:
        recheck_release(forged, RULES)
    assert where in str(caught.value)


def test_register_refuses_a_count_built_without_validation() -> None:
    """A site's code builds a count with model_construct (no validator). Now: the walk checks it again."""
    smuggled = ProtectedCount.model_construct(shown="2", value=2, suppressed=False, rules=DisclosureRules())
    forged = characterisation().model_copy(update={"persons": smuggled})
    with pytest.raises(DisclosureRefusedError, match=r"Characterisation\.persons"):
        recheck_release(forged, RULES)


def test_register_refuses_a_raw_integer_it_does_not_list() -> None:
    """A site adds an exact count where the schema has a dict of labels (a stratum count as a bare int)."""
    forged = characterisation().model_copy(update={"top": {"condition": [4]}})
    with pytest.raises(DisclosureRefusedError, match=r"top\.condition\[0\]: a raw integer"):
        recheck_release(forged, RULES)


# -- the hub's ingest: federation replies --------------------------------------------------------------------


def test_attack_hand_made_report_with_count_of_4_is_that_sites_failure() -> None:
    """A man in the middle rewrites a site's JSON report: cohort 4 (under rules it names itself), a 2×2 cell of 4.
    Before: the hub parsed and pooled it. Now: the hub's parse is a re-check; the report becomes that site's
    failure with the reason, and the reason never carries the value."""
    for edit in (_set(("cohort",), SMALL), _set(("metrics", "threshold", "counts", "fn"), 4)):
        admitted = admit_site_reply(SiteReport, _forged(site_report("site-2"), edit), RULES)
        assert admitted.status == "failed" and admitted.site_id == "site-2" and admitted.statistics is None
        assert admitted.reason.startswith("hub re-check refused the release")
        assert admitted.dataset_id == "site-2-cdm"


def test_attack_unparseable_report_is_a_failure_not_a_crash() -> None:
    """The forged report does not even parse (shown "3" released under the default rules; an unknown field).
    Before: ValidationError out of the ServerApp ended the whole job. Now: that site fails; no value echoed."""
    for edit in (
        _set(("cohort",), {"shown": "3", "value": 3, "suppressed": False}),
        _set(("rows",), [[1, 0.93]]),
    ):
        admitted = admit_site_reply(SiteReport, _forged(site_report("site-3"), edit), RULES)
        assert admitted.status == "failed" and admitted.site_id == "site-3"
        assert "unreadable SiteReport" in admitted.reason and "0.93" not in admitted.reason
    garbage = admit_site_reply(CalibrationReply, "not json", RULES)
    assert garbage.status == "failed" and garbage.site_id == "unknown"


def test_attack_newton_round_with_small_counts_drops_the_site() -> None:
    """A site answers a calibration round with events of 4. Now: the answer is a failure (the site drops out)."""
    answer = admit_site_reply(CalibrationReply, _forged(calibration_reply(), _set(("steps", 0, "events"), 4)), RULES)
    assert answer.status == "failed" and "steps[0].events" in answer.reason and not answer.steps


def test_attack_forged_feasibility_report_not_pooled() -> None:
    """A site's feasibility stratum of 4 rides in a forged report. Now: that site is failed; the pool covers the
    honest site only."""
    honest = feasibility_report("site-1")
    forged = admit_site_reply(
        QuerySiteReport,
        _forged(feasibility_report("site-2"), _set(("feasibility", "by_age_band", 1, "persons"), SMALL)),
        RULES,
    )
    assert honest.feasibility is not None
    request = QueryRequest(
        kind="feasibility",
        requester="researcher",
        datasets={"site-1": "site-1-cdm", "site-2": "site-2-cdm"},
        definition=_definition(),
    )
    run = pool_reports(request, {"site-1": honest, "site-2": forged}, "simulation", 0.0)
    assert run.covered == ("site-1",) and run.failed == ("site-2",)
    assert run.pooled_feasibility is not None
    assert run.pooled_feasibility.cohort_persons.value == honest.feasibility.cohort_persons.value


def _definition() -> Any:
    from release_examples import DEFINITION

    return DEFINITION


# -- the hub's ingest: catalog and monitoring -------------------------------------------------------------------


@pytest.fixture
def hub(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    """A migrated SQLite hub with the demo consortium, one sample dataset per site and a registered model."""
    monkeypatch.setattr(users_module, "_HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    engine = make_engine(str(tmp_path / "hub.db"))
    migrate(engine)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        users = seed_consortium(s, "correct-horse-battery")
        publish_samples(s, users["admin"])
        register_model(s, get_user(s, "vendor"), MODEL_SHA, {"name": "CKD", "version": "1"})
    yield factory
    engine.dispose()


def _publish(factory: sessionmaker[Session], chars: Characterisation, record: Any = None) -> None:
    with factory() as s, s.begin():
        publish_dataset(
            s, get_user(s, "steward1"), "site-1", record or sample_record("site-1", "t", "t", "d", "d"), chars, None
        )


def test_attack_characterisation_with_a_cell_of_2_is_refused_and_nothing_stored(hub: sessionmaker[Session]) -> None:
    """A steward publishes a characterisation whose 90-99 M cell is 2 (under rules that say min_cell 1), or with
    a count of 2 that skipped validation, or a record claiming 7 persons. Before: the hub stored and showed it.
    Now: refused before anything is written; the dataset keeps what it had."""
    with hub() as s:
        before = get_dataset(s, "site-1-cdm").record
    forged = [
        Characterisation.model_validate_json(_forged(characterisation(), _set(("age_sex", 1, "persons"), SMALL))),
        characterisation().model_copy(
            update={"persons": ProtectedCount.model_construct(shown="2", value=2, suppressed=False, rules=RULES)}
        ),
    ]
    for chars in forged:
        with pytest.raises(DisclosureRefusedError, match="Characterisation"):
            _publish(hub, chars)
    few = sample_record("site-1", "t", "t", "d", "d").model_copy(update={"number_of_unique_individuals": "7"})
    with pytest.raises(DisclosureRefusedError, match="number_of_unique_individuals"):
        _publish(hub, characterisation(), few)
    with hub() as s:
        stored = get_dataset(s, "site-1-cdm")
        assert stored.record == before and stored.characterisation is None
        assert s.scalar(select(func.count()).select_from(Dataset)) == 3
    _publish(hub, characterisation())  # the honest one is stored
    with hub() as s:
        assert get_dataset(s, "site-1-cdm").characterisation is not None


@pytest.mark.parametrize(
    "edit",
    [
        _set(("windows", 0, "performance", "events"), 3),  # three outcomes in the window
        _set(("windows", 0, "performance", "n"), 243),  # exact, not rounded: differencing windows gives cells
        _set(("windows", 0, "performance"), {"n": 7, "events": 2, "suppressed": False}),
    ],
)
def test_attack_monitoring_window_with_a_small_count_is_refused(hub: sessionmaker[Session], edit: Edit) -> None:
    """A site publishes a monitoring window whose live outcome counts are small or exact. Before: stored and
    plotted. Now: the publication is refused whole (422 over HTTP) and nothing of it is kept."""
    forged = MonitoringPublication.model_validate_json(_forged(monitoring_publication(), edit))
    with hub() as s, s.begin(), pytest.raises(PublicationError, match="disclosure re-check: MonitoringPublication"):
        ingest_publication(s, get_user(s, "steward1"), forged)
    with hub() as s:
        assert s.scalar(select(func.count()).select_from(MonitoringPublicationRecord)) == 0
    with hub() as s, s.begin():
        assert ingest_publication(s, get_user(s, "steward1"), monitoring_publication()).startswith("mon-")
