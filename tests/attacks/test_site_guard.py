"""Attacker's playbook against the site guard: forged and replayed tickets, swapped datasets, altered jobs,
walked calibration rounds, a hospital's own floor, plain-http hubs and a model that answers NaN.

Every attack runs against the real site code (the ClientApps' handlers with a real Flower `Context`, a real
synthetic CDM in DuckDB, a real SQLite hub store with its signing key) without the Flower engine.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from flwr.app import Context, RecordDict
from onnx import TensorProto, helper
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "federation" / "flower"))
from flower_fixtures import MIN_CELL, build_sites, hub_with_grant

from dari.cli.validate import validate as validate_command
from dari.cohort import load_definition
from dari.disclosure import DisclosureRules
from dari.errors import InputError
from dari.federation.admissions import AdmittedJobs
from dari.federation.flower.calibration import MAX_STEP, pool_steps
from dari.federation.flower.grants import (
    HubApiGrantChecker,
    HubStoreGrantChecker,
    SyntheticOnlyGrantChecker,
)
from dari.federation.flower.jobs import CalibrationQuery, CalibrationStep, JobRequest
from dari.federation.flower.query_apps import answer_query
from dari.federation.flower.query_jobs import QueryRequest
from dari.federation.flower.simulation import build_job
from dari.federation.flower.site_app import answer_job, answer_round, binding_from_context
from dari.federation.flower.site_work import job_claim
from dari.federation.guard import SiteBinding, SiteGuard
from dari.federation.ledger import DB_FILE, LEDGER_DIR
from dari.federation.site_audit import SiteAuditLog, verify_site_audit
from dari.federation.ticket import JobTicket, hub_public_pem, issue_tickets, params_sha256
from dari.hub.governance.applications import AnalysisType
from dari.hub.governance.grants import revoke_grant
from dari.hub.governance.users import get_user
from dari.models.reference import reference_model_paths
from dari.signing import SignedEnvelope
from dari.validation import LogisticParams, LogisticStepStats, OffsetMode, newton_fit
from dari.validation.logistic import fit_rows

RULES = DisclosureRules(min_cell=MIN_CELL)
DEFINITION = Path(__file__).resolve().parents[2] / "src" / "dari" / "cohort" / "examples" / "ckd_g3.json"
MODES: tuple[OffsetMode, OffsetMode] = ("citl", "slope")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic site folder, `site-1` (1,500 patients, the synth's truth marker present)."""
    return build_sites(tmp_path_factory.mktemp("guard-net"), n=1)[0]


@pytest.fixture(autouse=True)
def _fresh_release_ledger(request: pytest.FixtureRequest) -> None:
    """Each play meets the shared site with no releases on record: the ledger's own attacks are in
    test_differencing.py, and a guard test must not be refused for what an earlier test released."""
    if "folder" in request.fixturenames:
        for db in (request.getfixturevalue("folder") / LEDGER_DIR).glob(f"{DB_FILE}*"):
            db.unlink()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, sessionmaker[Session], str]:
    """A hub where `researcher` holds a validation + feasibility grant over site-1-cdm only."""
    hub_db = tmp_path_factory.mktemp("guard-hub") / "hub.db"
    types = [AnalysisType.MODEL_VALIDATION, AnalysisType.FEASIBILITY]
    factory, grant = hub_with_grant(hub_db, ["site-1-cdm"], types)
    return hub_db, factory, grant


def _site(folder: Path, hub_db: Path | None, site_id: str = "site-1", **extra: object) -> SiteBinding:
    pem = None if hub_db is None else hub_public_pem(hub_db)
    return SiteBinding(site_id=site_id, folder=str(folder), floor=RULES, hub_public_key=pem, **extra)  # type: ignore[arg-type]


def _job(folder: Path) -> tuple[JobRequest, bytes]:
    ref = reference_model_paths()
    return build_job([folder], ref.model, ref.spec, requester="researcher", threshold=0.2, rules=RULES)


def _ticketed(job: JobRequest, hub_db: Path, **kw: object) -> JobRequest:
    tickets = issue_tickets(
        hub_db,
        job_id=job.job_id,
        requester=job.requester,
        datasets=job.datasets,
        analysis_type="model_validation",
        model_sha256=job.model_sha256,
        params_hash=params_sha256(job),
        **kw,  # type: ignore[arg-type]
    )
    return job.model_copy(update={"tickets": tickets})


def _context(node_config: dict[str, bool | float | int | str] | None = None) -> Context:
    return Context(run_id=1, node_id=1, node_config=node_config or {}, state=RecordDict(), run_config={})


def _refusals(folder: Path, job_id: str) -> list[str]:
    return [
        e["details"]["reason"]
        for e in SiteAuditLog(folder).entries()
        if e["details"].get("job") == job_id and e["outcome"] == "deny"
    ]


# --- tickets -------------------------------------------------------------------------------------------------


def test_attack_forged_ticket_signed_with_another_key_is_refused(folder: Path, hub: tuple) -> None:
    """Attack: write a ticket with every right claim and sign it with a key of one's own.
    Before: sites believed the job's requester and grant names. Now: the signature must verify with the hub key
    the site trusts; the job is refused and the refusal is in the site's audit."""
    hub_db, factory, grant = hub
    job, model = _job(folder)
    claims = JobTicket(
        job_id=job.job_id,
        grant_id=grant,
        requester="researcher",
        site_id="site-1",
        dataset_id="site-1-cdm",
        analysis_type="model_validation",
        model_sha256=job.model_sha256,
        params_sha256=params_sha256(job),
        issued_at=dt.datetime.now(dt.UTC),
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        max_rounds=20,
    )
    forged = job.model_copy(update={"tickets": {"site-1": claims.signed(Ed25519PrivateKey.generate())}})
    report = answer_job(_context(), _site(folder, hub_db), HubStoreGrantChecker(factory), forged, model)
    assert report.status == "refused" and "does not trust" in report.reason
    assert report.metrics is None and report.statistics is None
    assert any("does not trust" in r for r in _refusals(folder, job.job_id))
    assert verify_site_audit(SiteAuditLog(folder)) is None


def test_attack_ticket_payload_edited_after_signing_is_refused(folder: Path, hub: tuple) -> None:
    """Attack: take a genuine ticket and edit its payload (a longer life, more rounds), keeping the signature.
    Now: the signature covers the exact bytes; the job is refused."""
    hub_db, factory, _ = hub
    job, model = _job(folder)
    job = _ticketed(job, hub_db)
    genuine = job.tickets["site-1"]
    edited = SignedEnvelope(
        payload=genuine.payload.replace('"max_rounds":20', '"max_rounds":999'),
        key_id=genuine.key_id,
        signature=genuine.signature,
    )
    attacked = job.model_copy(update={"tickets": {"site-1": edited}})
    report = answer_job(_context(), _site(folder, hub_db), HubStoreGrantChecker(factory), attacked, model)
    assert report.status == "refused" and "does not verify" in report.reason


def test_attack_site_without_a_trusted_hub_key_runs_nothing(folder: Path, hub: tuple) -> None:
    """Attack: reach a SuperNode whose operator forgot `hub-public-key`, with a hub-store checker configured.
    Now: a governed site without a trusted key refuses every job instead of trusting names."""
    hub_db, factory, _ = hub
    job, model = _job(folder)
    report = answer_job(_context(), _site(folder, None), HubStoreGrantChecker(factory), _ticketed(job, hub_db), model)
    assert report.status == "refused" and "trusts no hub key" in report.reason


def test_attack_job_without_ticket_is_refused_even_with_a_grant(folder: Path, hub: tuple) -> None:
    """Attack: the requester holds a grant but sends the job straight to the SuperNode, bypassing the hub.
    Before: the grant check alone admitted it (unaudited at the hub as a job). Now: no hub ticket, no job."""
    hub_db, factory, _ = hub
    job, model = _job(folder)
    report = answer_job(_context(), _site(folder, hub_db), HubStoreGrantChecker(factory), job, model)
    assert report.status == "refused" and "no hub ticket" in report.reason


def test_attack_ticket_for_site_1_replayed_at_site_3_is_refused(folder: Path, hub: tuple) -> None:
    """Attack: copy site-1's genuine ticket into a job for site-3.
    Now: the ticket names site-1; site-3 refuses it."""
    hub_db, factory, _ = hub
    job, model = _job(folder)
    stolen = _ticketed(job, hub_db).tickets["site-1"]
    replay = job.model_copy(update={"datasets": {"site-3": "site-3-cdm"}})
    replay = replay.model_copy(update={"tickets": {"site-3": stolen}})
    site3 = _site(folder, hub_db, "site-3")
    report = answer_job(_context(), site3, HubStoreGrantChecker(factory), replay, model)
    assert report.status == "refused" and "site_id does not match" in report.reason


def test_attack_ticket_replayed_in_another_job_is_refused(folder: Path, hub: tuple) -> None:
    """Attack: reuse a genuine ticket for a second job with the same parameters but a new job id.
    Now: the ticket is bound to its job id."""
    hub_db, factory, _ = hub
    job, model = _job(folder)
    stolen = _ticketed(job, hub_db).tickets
    second = job.model_copy(update={"job_id": "job-second-run", "tickets": stolen})
    report = answer_job(_context(), _site(folder, hub_db), HubStoreGrantChecker(factory), second, model)
    assert report.status == "refused" and "job_id does not match" in report.reason


def test_attack_job_mapping_site_3_to_site_1s_dataset_is_refused_at_site_3(folder: Path, hub: tuple) -> None:
    """Attack (leak 2): the requester's grant covers site-1-cdm; the job maps site-3 to `site-1-cdm`, and the hub
    even signs that (the grant covers the named dataset).
    Before: site-3 checked the grant against the dataset the job named and released its own results under
    site-1's grant. Now: site-3 checks only its own dataset id and refuses before any data is opened."""
    hub_db, factory, _ = hub
    job, model = _job(folder)
    swapped = _ticketed(job.model_copy(update={"datasets": {"site-3": "site-1-cdm"}}), hub_db)
    assert "site-3" in swapped.tickets  # the hub's own check passed on the named dataset
    site3 = _site(folder, hub_db, "site-3")
    report = answer_job(_context(), site3, HubStoreGrantChecker(factory), swapped, model)
    assert report.status == "refused" and "which holds site-3-cdm" in report.reason
    assert report.statistics is None


def test_attack_node_config_dataset_id_wins_over_the_job(folder: Path) -> None:
    """Variant: a hospital registered as `hosp-a-omop` (node config `dataset-id`); a no-governance job names the
    default `site-1-cdm`. Now: refused — the site's own configured dataset id is the only one it answers for."""
    job, model = _job(folder)
    ctx = _context({"site-id": "site-1", "site-folder": str(folder), "dataset-id": "hosp-a-omop"})
    site = binding_from_context(ctx, None)
    report = answer_job(ctx, site, SyntheticOnlyGrantChecker({"site-1-cdm": folder}), job, model)
    assert site.dataset_id == "hosp-a-omop"
    assert report.status == "refused" and "which holds hosp-a-omop" in report.reason


def test_attack_expired_ticket_is_refused(folder: Path, hub: tuple) -> None:
    """Attack: keep a ticket and use it after it expired. Now: refused ('expired')."""
    hub_db, factory, _ = hub
    job, model = _job(folder)
    stale = _ticketed(job, hub_db, ttl=dt.timedelta(0))
    report = answer_job(_context(), _site(folder, hub_db), HubStoreGrantChecker(factory), stale, model)
    assert report.status == "refused" and "expired" in report.reason


@pytest.mark.parametrize(
    "change",
    [
        {"validation": {"threshold": 0.05}},
        {"subgroups": ("sex", "age_band", "diabetes")},
        {"disclosure": {"min_cell": 1, "rounding_base": 1}},
        {"requester": "admin"},
    ],
    ids=["threshold", "subgroups", "rules", "requester"],
)
def test_attack_params_changed_after_signing_are_refused(folder: Path, hub: tuple, change: dict) -> None:
    """Attack: get a ticket for a harmless job, then change its threshold, subgroups, rules or requester.
    Before: nothing tied the job's parameters to the grant. Now: the ticket's parameters' hash (or requester)
    does not match the job the site received."""
    hub_db, factory, _ = hub
    job, model = _job(folder)
    job = _ticketed(job, hub_db)
    altered = JobRequest.model_validate({**job.model_dump(), **change})
    report = answer_job(_context(), _site(folder, hub_db), HubStoreGrantChecker(factory), altered, model)
    assert report.status == "refused" and "does not match" in report.reason


def test_attack_model_swapped_after_signing_is_refused(folder: Path, hub: tuple, tmp_path: Path) -> None:
    """Attack: a ticket for the reference model, then another model (its own hash declared) in the same job.
    Now: the ticket's model hash is not the job's; refused before the model is even loaded."""
    hub_db, factory, _ = hub
    job, _ = _job(folder)
    job = _ticketed(job, hub_db)
    other = _nan_model(tmp_path / "other.onnx")
    import hashlib

    swapped = job.model_copy(update={"model_sha256": hashlib.sha256(other).hexdigest()})
    report = answer_job(_context(), _site(folder, hub_db), HubStoreGrantChecker(factory), swapped, other)
    assert report.status == "refused" and "does not match" in report.reason


def test_attack_revoked_grant_stops_a_ticketed_job(folder: Path, tmp_path: Path) -> None:
    """Attack: obtain a ticket, then keep running after the DRB revoked the grant.
    Now: the guard asks the grant checker every time; revoked means no."""
    hub_db = tmp_path / "hub.db"
    factory, grant = hub_with_grant(hub_db, ["site-1-cdm"])
    job, model = _job(folder)
    job = _ticketed(job, hub_db)
    with factory() as s, s.begin():
        revoke_grant(s, get_user(s, "admin"), grant, "withdrawn consent")
    report = answer_job(_context(), _site(folder, hub_db), HubStoreGrantChecker(factory), job, model)
    assert report.status == "refused" and "revoked" in report.reason


# --- calibration rounds --------------------------------------------------------------------------------------


def _admitted(
    folder: Path, hub: tuple, max_rounds: int = 20, site_max: int = 20, also: tuple[str, ...] = ()
) -> tuple[Context, SiteBinding, str]:
    hub_db, factory, _ = hub
    job, model = _job(folder)
    job = job.model_copy(update={"datasets": {**job.datasets, **{s: f"{s}-cdm" for s in also}}})
    job = _ticketed(job, hub_db, max_rounds=max_rounds)
    ctx, site = _context(), _site(folder, hub_db, max_rounds=site_max)
    report = answer_job(ctx, site, HubStoreGrantChecker(factory), job, model)
    assert report.status == "ok", report.reason
    return ctx, site, job.job_id


def _honest(ctxs: list[tuple[Context, SiteBinding]], job_id: str) -> tuple[dict[str, object], int]:
    """The hub's honest Newton rounds over these sites (as hub_app._fits): the fits and the rounds used."""
    running = {m: newton_fit(m) for m in MODES}
    pending = {m: next(f) for m, f in running.items()}
    previous: dict[OffsetMode, LogisticStepStats | None] = dict.fromkeys(MODES)
    done: dict[str, object] = {}
    sites = tuple(s.site_id for _, s in ctxs)
    rounds = 0
    while pending:
        order = list(pending)
        steps = tuple(CalibrationStep(offset_mode=m, params=pending[m], previous=previous[m]) for m in order)
        replies = [answer_round(c, s, CalibrationQuery(job_id=job_id, sites=sites, steps=steps)) for c, s in ctxs]
        rounds += 1
        assert all(r.status == "ok" for r in replies), [r.reason for r in replies]
        for i, mode in enumerate(order):
            total = pool_steps([r.steps[i] for r in replies])
            try:
                pending[mode], previous[mode] = running[mode].send([total]), total
            except StopIteration as finished:
                done[mode] = finished.value
                del pending[mode]
    return done, rounds


def test_calibration_honest_path_is_answered_and_matches_the_site_fit(folder: Path, hub: tuple) -> None:
    """The honest hub: every round is on the site's own replayed path, and the fit equals the fit on the rows."""
    ctx, site, job_id = _admitted(folder, hub)
    fits, rounds = _honest([(ctx, site)], job_id)
    assert rounds <= 20
    state = ctx.state.array_records[f"dari.validation.{job_id}"]
    y, p = (a.numpy() for a in state.values())
    slope = fits["slope"]
    assert abs(slope.slope - fit_rows(y == 1.0, p, "slope").slope) < 1e-8  # type: ignore[attr-defined]


def test_calibration_two_sites_replay_the_same_path(folder: Path) -> None:
    """Two covered sites, each checking the broadcast against its own contribution: both answer every round."""
    checker = SyntheticOnlyGrantChecker({"site-1-cdm": folder, "site-2-cdm": folder})
    job, model = _job(folder)
    job = job.model_copy(update={"datasets": {"site-1": "site-1-cdm", "site-2": "site-2-cdm"}})
    pairs = []
    for sid in ("site-1", "site-2"):
        ctx, site = _context(), _site(folder, None, sid)
        assert answer_job(ctx, site, checker, job, model).status == "ok"
        pairs.append((ctx, site))
    fits, _ = _honest(pairs, job.job_id)
    assert fits["citl"].converged and fits["slope"].converged  # type: ignore[attr-defined]


def test_attack_chosen_calibration_parameters_are_refused(folder: Path, hub: tuple) -> None:
    """Attack (leak 4): a hub that chooses its own (intercept, slope) each round, 31 rounds, to read the site's
    score distribution from the returned sums.
    Before: 31 rounds answered, exact counts per eGFR value recovered. Now: a first round must be (0, 1) and every
    later one the Newton step from the broadcast sums; chosen parameters are refused, and audited."""
    ctx, site, job_id = _admitted(folder, hub)
    answered = 0
    for k in range(31):
        params = LogisticParams(intercept=-3.0 + 0.2 * k, slope=0.5 + 0.05 * k)
        query = CalibrationQuery(
            job_id=job_id, sites=("site-1",), steps=(CalibrationStep(offset_mode="slope", params=params),)
        )
        answered += answer_round(ctx, site, query).status == "ok"
    assert answered == 0
    assert sum("not the Newton step" in r for r in _refusals(folder, job_id)) == 31


def test_attack_calibration_step_off_the_path_after_an_honest_first_round(folder: Path, hub: tuple) -> None:
    """Attack: answer the first round honestly, then send the true broadcast with parameters of one's choosing.
    Now: refused; so is a broadcast that is not the site's own sums when it is the only covered site."""
    ctx, site, job_id = _admitted(folder, hub)
    first = CalibrationStep(offset_mode="slope", params=LogisticParams(intercept=0.0, slope=1.0))
    reply = answer_round(ctx, site, CalibrationQuery(job_id=job_id, sites=("site-1",), steps=(first,)))
    assert reply.status == "ok"
    own = reply.steps[0]
    chosen = CalibrationStep(offset_mode="slope", params=LogisticParams(intercept=0.4, slope=0.8), previous=own)
    off = answer_round(ctx, site, CalibrationQuery(job_id=job_id, sites=("site-1",), steps=(chosen,)))
    assert off.status == "refused" and "not the Newton step" in off.reason
    # A faked broadcast (the hub inflates the totals to steer the step) is caught against the site's own sums.
    fake = own.model_copy(update={"score": (own.score[0] + 50.0, own.score[1])})
    steered = newton_fit("slope")
    next(steered)
    target = steered.send([fake])
    forged = CalibrationStep(offset_mode="slope", params=target, previous=fake)
    lie = answer_round(ctx, site, CalibrationQuery(job_id=job_id, sites=("site-1",), steps=(forged,)))
    assert lie.status == "refused" and "only covered site" in lie.reason


def test_attack_ghost_site_broadcast_is_bounded_by_rounds_and_step(folder: Path, hub: tuple) -> None:
    """Attack: invent a second covered site whose 'sums' steer the Newton step where the hub wants.
    What holds: each step is bounded (MAX_STEP), and the job gets no more rounds than its ticket allows."""
    ctx, site, job_id = _admitted(folder, hub, max_rounds=3, also=("site-2",))
    sites = ("site-1", "site-2")  # site-2 is in the job; its 'sums' are the hub's invention
    fit = newton_fit("slope")
    params, previous, last = next(fit), None, LogisticParams(intercept=0.0, slope=1.0)
    answered = 0
    for _ in range(10):
        step = CalibrationStep(offset_mode="slope", params=params, previous=previous)
        reply = answer_round(ctx, site, CalibrationQuery(job_id=job_id, sites=sites, steps=(step,)))
        if reply.status != "ok":
            break
        answered += 1
        assert max(abs(params.intercept - last.intercept), abs(params.slope - last.slope)) <= MAX_STEP
        own, last = reply.steps[0], params
        # the ghost 'site': as many rows as the real one, a score pushing the intercept, no information
        previous = own.model_copy(
            update={
                "n": own.n * 2,
                "events": own.events * 2,
                "score": (own.score[0] + 0.5 * own.information[0], own.score[1]),
                "log_likelihood": own.log_likelihood * 2,
            }
        )
        params = fit.send([previous])
    assert answered == 3
    assert any("calibration rounds" in r for r in _refusals(folder, job_id))


def test_attack_covered_site_outside_the_job_is_refused(folder: Path, hub: tuple) -> None:
    """Attack: claim a covered site that the signed job never named, to hide invented sums behind it.
    Now: the covered sites of a round must be sites of the job."""
    ctx, site, job_id = _admitted(folder, hub)
    step = CalibrationStep(offset_mode="citl", params=LogisticParams(intercept=0.0, slope=1.0))
    reply = answer_round(ctx, site, CalibrationQuery(job_id=job_id, sites=("site-1", "ghost"), steps=(step,)))
    assert reply.status == "refused" and "not part of the job" in reply.reason


def test_attack_more_rounds_than_the_site_allows(folder: Path, hub: tuple) -> None:
    """Attack: a ticket allowing 20 rounds at a site whose node config `max-rounds` is 2.
    Now: the site's own limit wins; the third round is refused."""
    ctx, site, job_id = _admitted(folder, hub, max_rounds=20, site_max=2)
    running = newton_fit("citl")
    params, previous = next(running), None
    statuses = []
    for _ in range(4):
        step = CalibrationStep(offset_mode="citl", params=params, previous=previous)
        reply = answer_round(ctx, site, CalibrationQuery(job_id=job_id, sites=("site-1",), steps=(step,)))
        statuses.append(reply.status)
        if reply.status != "ok":
            break
        previous = reply.steps[0]
        params = running.send([previous])
    assert statuses == ["ok", "ok", "refused"]


def test_attack_rounds_for_a_job_never_admitted_are_refused(folder: Path) -> None:
    """Attack: skip the job and ask Newton rounds directly. Now: no admission in the node's state, no round."""
    site = _site(folder, None)
    step = CalibrationStep(offset_mode="citl", params=LogisticParams(intercept=0.0, slope=1.0))
    reply = answer_round(_context(), site, CalibrationQuery(job_id="job-never", sites=("site-1",), steps=(step,)))
    assert reply.status == "refused" and "no admitted job" in reply.reason


def test_calibration_rounds_use_the_site_enforced_rules(folder: Path, hub: tuple) -> None:
    """Bug fixed: the rounds stored the job's requested rules; now the admission's site-enforced rules."""
    hub_db, factory, _ = hub
    job, model = _job(folder)
    job = _ticketed(job.model_copy(update={"disclosure": DisclosureRules(min_cell=1)}), hub_db)
    ctx, site = _context(), _site(folder, hub_db)
    assert answer_job(ctx, site, HubStoreGrantChecker(factory), job, model).status == "ok"
    stored = ctx.state.config_records[f"dari.validation.{job.job_id}.state"]["json"]
    assert f'"min_cell":{MIN_CELL}' in str(stored) and '"min_cell":1,' not in str(stored)


# --- the site's own floor, the hub URL, NaN models -----------------------------------------------------------


def test_attack_query_below_the_sites_node_config_min_cell(folder: Path) -> None:
    """Attack (leak 10): a feasibility job asking min_cell 1 at a hospital whose node config says `min-cell=25`,
    `rounding-base=10`. Before: the query ClientApp never read the node config (the floor applied to validation
    only). Now: the query app reads it; every released count is >= 25 or suppressed, rounded to 10."""
    ctx = _context(
        {"site-id": "site-1", "site-folder": str(folder), "min-cell": 25, "rounding-base": 10, "no-governance": True}
    )
    request = QueryRequest(
        kind="feasibility",
        requester="researcher",
        datasets={"site-1": "site-1-cdm"},
        definition=load_definition(DEFINITION),
        disclosure=DisclosureRules(min_cell=1, rounding_base=1),
    )
    report = answer_query(ctx, binding_from_context(ctx, None), None, request)
    assert report.status == "ok" and report.feasibility is not None, report.reason
    result = report.feasibility
    assert result.rules == DisclosureRules(min_cell=25, rounding_base=10)
    counts = [result.cohort_persons, *(s.remaining for s in result.attrition), *(s.persons for s in result.by_age_band)]
    assert all(c.suppressed or (c.value is not None and c.value >= 25 and c.value % 10 == 0) for c in counts)


@pytest.mark.parametrize(
    "url",
    ["http://hub.example.kr", "http://10.0.0.5:8000", "http://127.0.0.1.nip.io", "http://127.0.0.1@evil.example"],
)
def test_attack_plain_http_hub_url_to_a_non_loopback_host_is_refused(url: str, folder: Path) -> None:
    """Attack: point a site (or the CLI) at a hub over plain http on the network, to read its API token.
    Before: accepted. Now: https is required unless the host is loopback; the node refuses the job, not crashes."""
    with pytest.raises(InputError, match="https"):
        HubApiGrantChecker(url, "token")
    token = folder.parent / "steward.token"
    token.write_text("secret\n", encoding="utf-8")
    ctx = _context({"site-id": "site-1", "site-folder": str(folder), "hub-url": url, "hub-token-file": str(token)})
    job, model = _job(folder)
    report = answer_job(ctx, binding_from_context(ctx, None), None, job, model)
    assert report.status == "refused" and "https" in report.reason and "secret" not in report.reason
    result = CliRunner().invoke(
        _cli(), ["--sites", str(folder), "--hub-url", url, "--hub-token", "t", "--model", "reference"]
    )
    assert result.exit_code == 2 and "https" in result.output


def test_loopback_http_hub_url_is_allowed() -> None:
    """Plain http stays allowed on loopback (a hub and a site on one machine, tests)."""
    for url in ("http://127.0.0.1:8000", "http://localhost", "http://[::1]:9000"):
        assert HubApiGrantChecker(url, "token").url == url


def _cli() -> object:
    import typer

    app = typer.Typer()
    app.command()(validate_command)
    return app


def _nan_model(path: Path) -> bytes:
    """A valid ONNX model of the reference spec's width whose probabilities are 0/0 = NaN."""
    from dari.models import load_spec

    width = load_spec(reference_model_paths().spec).n_features
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, width])
    out = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 1])
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Mul", ["x", "zero"], ["zeros"]),
        helper.make_node("ReduceSum", ["zeros", "axes"], ["z"], keepdims=1),
        helper.make_node("Div", ["z", "z"], ["probabilities"]),
    ]
    graph = helper.make_graph(nodes, "nan", [x], [out], initializer=[zero, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    path.write_bytes(data)
    return data


def test_attack_nan_model_is_a_site_failure_with_a_reason(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Attack (leak 9): a model whose output is NaN for every patient.
    Before: the site job crashed. Now: the site reports `failed` with the reason, audits it, stores nothing for
    rounds, and keeps serving."""
    model_path = tmp_path / "nan.onnx"
    _nan_model(model_path)
    ref = reference_model_paths()
    job, model = build_job([folder], model_path, ref.spec, requester="researcher", threshold=0.2, rules=RULES)
    ctx = _context()
    with caplog.at_level(logging.WARNING, logger="dari.site"):
        report = answer_job(ctx, _site(folder, None), SyntheticOnlyGrantChecker({"site-1-cdm": folder}), job, model)
    assert report.status == "failed"
    assert "nan" in report.reason.lower() or "finite" in report.reason.lower()
    assert "Traceback" not in report.reason and report.statistics is None
    assert not ctx.state.config_records  # nothing kept for Newton rounds
    entries = [e for e in SiteAuditLog(folder).entries() if e["details"].get("job") == job.job_id]
    assert [e["event"] for e in entries] == ["job.admit", "job.failed"]
    # the site still serves the next job
    good, good_model = _job(folder)
    again = answer_job(
        _context(), _site(folder, None), SyntheticOnlyGrantChecker({"site-1-cdm": folder}), good, good_model
    )
    assert again.status == "ok"


def test_broken_site_keeps_its_traceback_local(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A crash inside the site's work: the hub gets the exception's kind only; the traceback is in the site's log."""
    broken = tmp_path / "site-1"
    (broken / "truth").mkdir(parents=True)
    (broken / "truth" / "ckd_progression.csv").write_text("x\n")
    (broken / "cdm.duckdb").write_bytes(b"not a database at /secret/path")
    job, model = _job(broken)
    with caplog.at_level(logging.WARNING, logger="dari.site"):
        report = answer_job(
            _context(), _site(broken, None), SyntheticOnlyGrantChecker({"site-1-cdm": broken}), job, model
        )
    assert report.status == "failed" and "Traceback" not in report.reason
    assert any(r.exc_info for r in caplog.records if r.name == "dari.site")
    assert np.all([e["event"] != "job.ok" for e in SiteAuditLog(broken).entries()])


# --- the requester, proven by the hub's authentication -------------------------------------------------------


def _ticket_api(hub_db: Path) -> TestClient:
    from dari.hub.settings import HubSettings
    from dari.hub.web.app import create_app

    app = create_app(HubSettings(database=str(hub_db)))
    return TestClient(app, base_url="https://testserver")


def _token(factory: sessionmaker[Session], username: str) -> str:
    from dari.hub.governance.users import issue_api_token

    with factory() as s, s.begin():
        return issue_api_token(s, get_user(s, username))


def test_attack_requester_named_in_the_body_is_not_the_ticket_requester(folder: Path, hub: tuple) -> None:
    """Attack (leak 7): claim to be `researcher` (who holds the grant) while authenticated as someone else.
    Before: the job's requester was just a name. Now: the REST route puts the token's user in the ticket; a
    `requester` field in the body is refused, another user's token gets no ticket, and a site refuses a job whose
    requester differs from its ticket's."""
    hub_db, factory, _ = hub
    job, model = _job(folder)
    body = {
        "job_id": job.job_id,
        "analysis_type": "model_validation",
        "datasets": job.datasets,
        "model_sha256": job.model_sha256,
        "params_sha256": params_sha256(job),
    }
    client = _ticket_api(hub_db)
    assert client.post("/api/v1/jobs/tickets", json=body).status_code == 401
    vendor = {"Authorization": f"Bearer {_token(factory, 'vendor')}"}
    posed = client.post("/api/v1/jobs/tickets", json={**body, "requester": "researcher"}, headers=vendor)
    assert posed.status_code == 422
    answer = client.post("/api/v1/jobs/tickets", json=body, headers=vendor).json()
    assert answer["requester"] == "vendor" and answer["tickets"] == {} and "site-1" in answer["refused"]
    mine = {"Authorization": f"Bearer {_token(factory, 'researcher')}"}
    answer = client.post("/api/v1/jobs/tickets", json=body, headers=mine).json()
    assert answer["requester"] == "researcher" and set(answer["tickets"]) == {"site-1"}
    ticketed = job.model_copy(update={"tickets": {"site-1": SignedEnvelope(**answer["tickets"]["site-1"])}})
    report = answer_job(_context(), _site(folder, hub_db), HubStoreGrantChecker(factory), ticketed, model)
    assert report.status == "ok", report.reason
    posing = ticketed.model_copy(update={"requester": "vendor"})
    report = answer_job(_context(), _site(folder, hub_db), HubStoreGrantChecker(factory), posing, model)
    assert report.status == "refused" and "requester does not match" in report.reason


def test_governed_node_config_admits_only_ticketed_jobs(folder: Path, hub: tuple) -> None:
    """A SuperNode configured as the production docs say (`hub-db`, `hub-public-key`, `min-cell`): a ticketed
    job runs under the site's floor; the same job without its ticket, or on a node missing the key, is refused."""
    from dari.hub.keys import hub_key_paths

    hub_db, _, grant = hub
    config: dict[str, bool | float | int | str] = {
        "site-id": "site-1",
        "site-folder": str(folder),
        "hub-db": str(hub_db),
        "hub-public-key": str(hub_key_paths(hub_db).public),
        "min-cell": MIN_CELL,
    }
    job, model = _job(folder)
    ticketed = _ticketed(job, hub_db)
    ctx = _context(config)
    report = answer_job(ctx, binding_from_context(ctx, None), None, ticketed, model)
    assert report.status == "ok" and report.grant_id == grant, report.reason
    assert answer_job(ctx, binding_from_context(ctx, None), None, job, model).status == "refused"
    keyless = _context({k: v for k, v in config.items() if k != "hub-public-key"})
    refused = answer_job(keyless, binding_from_context(keyless, None), None, ticketed, model)
    assert refused.status == "refused" and "trusts no hub key" in refused.reason


def test_attack_replaying_an_admitted_job_to_reset_its_rounds_is_refused(folder: Path, hub: tuple) -> None:
    """Attack: spend a job's calibration rounds, then send the same ticketed job again (a new Flower run, fresh
    node state) to start counting from zero. Now: the site's audit remembers the admission; the replay is refused."""
    _, site, job_id = _admitted(folder, hub, max_rounds=1)
    hub_db, factory, _ = hub
    admitted = [e for e in SiteAuditLog(folder).entries() if e["details"].get("job") == job_id]
    assert [e["event"] for e in admitted][:2] == ["job.admit", "job.ok"]
    job, model = _job(folder)
    replay = _ticketed(job.model_copy(update={"job_id": job_id}), hub_db)
    report = answer_job(_context(), site, HubStoreGrantChecker(factory), replay, model)
    assert report.status == "refused" and "admitted here before" in report.reason


def test_attack_two_concurrent_copies_of_one_job_run_once(folder: Path, hub: tuple) -> None:
    """Attack: deliver the same ticketed job to the site several times at once (a replay racing the original), so
    every copy passes the 'admitted before?' check before any copy is on record. Now: the admission is claimed
    atomically (an O_EXCL marker); exactly one copy runs, the others are refused and audited."""
    hub_db, factory, _ = hub
    job = _ticketed(_job(folder)[0], hub_db)
    guard = SiteGuard(_site(folder, hub_db), HubStoreGrantChecker(factory))
    start, ran = threading.Barrier(4), []

    def copy() -> str:
        start.wait()
        return guard.run(job_claim(job), job.disclosure, lambda admission: ran.append(admission.job_id)).status

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: copy(), range(4)))
    assert statuses == ["ok", "refused", "refused", "refused"] and ran == [job.job_id]
    assert sum("admitted here before" in r for r in _refusals(folder, job.job_id)) == 3


def test_attack_replay_at_a_site_whose_audit_predates_the_admission_markers(tmp_path: Path) -> None:
    """Attack: replay a job at a site upgraded from a release that kept admissions only in its audit file. Now: the
    markers are built once from the audit's `job.admit` entries, so the earlier admission still counts."""
    SiteAuditLog(tmp_path).record("job.admit", "allow", job="job-old", dataset="site-1-cdm", rounds=20)
    SiteAuditLog(tmp_path).record("job.ok", "ok", job="job-old", dataset="site-1-cdm", reason="")
    admitted = AdmittedJobs(tmp_path)
    assert not admitted.path.exists()
    assert admitted.seen("job-old", "site-1-cdm") and not admitted.claim("job-old", "site-1-cdm")
    assert not admitted.seen("job-old", "site-2-cdm") and admitted.claim("job-new", "site-1-cdm")
    assert not AdmittedJobs(tmp_path).claim("job-new", "site-1-cdm")
