"""The site's Flower ClientApp: answers a validation job and its Newton rounds, releasing aggregates only.

Node config (set per SuperNode with `flower-supernode --node-config`):

* `site-id`, `site-folder` — the hospital's id and its site folder (CDM in `cdm.duckdb`); `dataset-id` — its
  dataset id at the hub (default `<site-id>-cdm`): the only dataset this node ever checks a grant for;
* `hub-public-key` — path of the hub's public key (PEM): only jobs with a ticket it signed run;
* how the grant is checked: `hub-url` + `hub-token-file` (the hub's REST API, the normal case), or `hub-db`
  (the hub store itself), or `no-governance = true` (synthetic site folders only, no ticket needed);
* `min-cell`, `rounding-base` — the site's disclosure floor (default 10 / 5); `max-rounds` — calibration
  rounds it answers per job (default 20).

In simulation (`make_site_app(bindings, checker)`) the virtual node's `partition-id` picks its binding.
Every message passes `dari.federation.guard.SiteGuard`; the scored cohort, the admission (site-enforced rules
included) and the Newton path stay in the node's `context.state` between the job and its rounds: on the site.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from pydantic import BaseModel, ValidationError

from dari.disclosure import DisclosureRules
from dari.errors import DariError
from dari.federation.flower.calibration import CalibrationState, PathError, check_round
from dari.federation.flower.grants import (
    GrantChecker,
    HubApiGrantChecker,
    HubStoreGrantChecker,
    SyntheticOnlyGrantChecker,
)
from dari.federation.flower.jobs import CalibrationQuery, CalibrationReply, JobRequest, SiteReport
from dari.federation.flower.secure_agg import secure_train_mod
from dari.federation.flower.secure_histogram import histogram_reply, is_histogram_round, site_contribution
from dari.federation.flower.site_work import admit_and_validate
from dari.federation.guard import DEFAULT_MAX_ROUNDS, Admission, SiteBinding, SiteGuard
from dari.validation import UndefinedMetricWarning, ValidationSpec, site_logistic_step

__all__ = [
    "PAYLOAD",
    "SiteBinding",
    "answer_job",
    "answer_round",
    "binding_from_context",
    "checker_from_node_config",
    "make_site_app",
]

PAYLOAD = "dari"  # the ConfigRecord every message carries


def _node_value(context: Context, key: str) -> str | None:
    value = context.node_config.get(key)
    return None if value is None or str(value) == "" else str(value)


def binding_from_context(context: Context, bindings: Mapping[int, SiteBinding] | None) -> SiteBinding:
    """This node's site: the simulation's binding for its partition, else its node config (never the job)."""
    if bindings is not None:
        return bindings[int(context.node_config["partition-id"])]
    site_id, folder = _node_value(context, "site-id"), _node_value(context, "site-folder")
    if not site_id or not folder:
        raise ValueError("the SuperNode needs --node-config \"site-id='…' site-folder='…'\"")
    defaults = DisclosureRules()
    min_cell, base = _node_value(context, "min-cell"), _node_value(context, "rounding-base")
    floor = DisclosureRules(
        min_cell=int(min_cell) if min_cell else defaults.min_cell,
        rounding_base=int(base) if base else defaults.rounding_base,
    )
    key_path, rounds = _node_value(context, "hub-public-key"), _node_value(context, "max-rounds")
    try:
        pem = Path(key_path).read_text(encoding="ascii") if key_path else None
    except OSError as exc:
        raise ValueError(f"node config hub-public-key: cannot read {key_path}: {exc.strerror}") from None
    return SiteBinding(
        site_id=site_id,
        folder=folder,
        dataset_id=_node_value(context, "dataset-id") or "",
        floor=floor,
        hub_public_key=pem,
        max_rounds=int(rounds) if rounds else DEFAULT_MAX_ROUNDS,
    )


def checker_from_node_config(context: Context, site: SiteBinding) -> GrantChecker:
    """The grant checker a deployed SuperNode's node config names (refusing every job when it names none)."""
    url, token_file, db = (_node_value(context, k) for k in ("hub-url", "hub-token-file", "hub-db"))
    if url and token_file:
        return HubApiGrantChecker(url, Path(token_file).read_text(encoding="utf-8").strip())
    if db:
        return HubStoreGrantChecker.from_url(db)
    if str(context.node_config.get("no-governance", "")).lower() == "true":
        return SyntheticOnlyGrantChecker({site.dataset_id: site.folder})
    return SyntheticOnlyGrantChecker({})  # no hub configured: nothing is allowed


def _reply(message: Message, record: BaseModel) -> Message:
    return Message(RecordDict({PAYLOAD: ConfigRecord({"json": record.model_dump_json()})}), reply_to=message)


def _state_key(job_id: str) -> str:
    return f"dari.validation.{job_id}"


def _load_state(context: Context, job_id: str) -> CalibrationState | None:
    key = _state_key(job_id) + ".state"
    if key not in context.state.config_records:
        return None
    return CalibrationState.model_validate_json(str(context.state.config_records[key]["json"]))


def _save_state(context: Context, state: CalibrationState) -> None:
    context.state[_state_key(state.admission.job_id) + ".state"] = ConfigRecord({"json": state.model_dump_json()})


def _round_refusal(state: CalibrationState, now: dt.datetime) -> str:
    admission = state.admission
    if admission.expires_at is not None and now >= admission.expires_at:
        return "the job's ticket has expired: no further round"
    if state.rounds >= admission.max_rounds:
        return f"the job has had its {admission.max_rounds} calibration rounds at this site"
    return ""


def answer_round(context: Context, site: SiteBinding, query: CalibrationQuery) -> CalibrationReply:
    """One Newton round through the guard: an admitted job, within its rounds, on the site's own Newton path."""
    guard = SiteGuard(site, None)
    state = _load_state(context, query.job_id)
    key = _state_key(query.job_id)
    if state is None or key not in context.state.array_records:  # only a job this site admitted gets rounds
        reason = "no admitted job with this id here"
        guard.refuse_round(None, reason, query.job_id)
        return CalibrationReply(site_id=site.site_id, status="refused", reason=reason)
    steps = [(q.offset_mode, q.params, q.previous) for q in query.steps]
    try:
        reason = _round_refusal(state, dt.datetime.now(dt.UTC))
        paths = None if reason else check_round(state, steps, query.sites)
    except PathError as exc:
        reason, paths = str(exc), None
    if paths is None:
        guard.refuse_round(state.admission, reason, query.job_id)
        return CalibrationReply(site_id=site.site_id, status="refused", reason=reason)
    state.rounds += 1  # counted before the work: a failing round still spends one
    _save_state(context, state)
    y, p = (a.numpy() for a in context.state.array_records[key].values())

    def work(admission: Admission) -> CalibrationReply:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            sums = tuple(site_logistic_step(y == 1.0, p, q.params, q.offset_mode, admission.rules) for q in query.steps)
        return CalibrationReply(site_id=site.site_id, status="ok", steps=sums)

    outcome = guard.run_admitted(state.admission, "job.round", work)
    if outcome.result is None:
        return CalibrationReply(site_id=site.site_id, status=outcome.status, reason=outcome.reason)
    state.paths.update(paths)
    state.own.update({s.offset_mode: s for s in outcome.result.steps})
    _save_state(context, state)
    return outcome.result


def answer_job(
    context: Context, site: SiteBinding, checker: GrantChecker | None, job: JobRequest, model_bytes: bytes | None
) -> SiteReport:
    """A validation job through the guard; on ok, what its rounds need stays in the node's state (on the site)."""
    try:
        grant_checker = checker or checker_from_node_config(context, site)
    except (DariError, OSError) as exc:  # e.g. plain http to a non-loopback hub: refused, never a crash
        return SiteReport(site_id=site.site_id, status="refused", reason=f"grant checker: {exc}")
    report, scored, admission = admit_and_validate(job, model_bytes, site, grant_checker)
    if scored is not None and admission is not None and report.status == "ok":
        # Row-level scores stay in the node's own state for the job's Newton rounds, with the admission (the
        # site-enforced rules, the round limit) and the Newton path the site will check each round against.
        context.state[_state_key(job.job_id)] = ArrayRecord(numpy_ndarrays=[scored.y.astype(np.float64), scored.p])
        _save_state(context, CalibrationState(admission=admission, job_sites=tuple(job.datasets)))
        if job.secure_histogram:  # secagg hook: the signed job's fine grid, for its one SecAgg+ contribution
            spec_json = job.validation.model_dump_json()
            context.state[_state_key(job.job_id) + ".secure"] = ConfigRecord({"spec": spec_json, "done": False})
    return report


def answer_secure_histogram(context: Context, site: SiteBinding, message: Message) -> Message:
    """The job's one SecAgg+ contribution (its fine histogram), through the guard; `RuntimeError` if refused."""
    guard = SiteGuard(site, None)
    config = message.content.config_records["config"]
    job_id = str(config.get("job-id", ""))
    state, key = _load_state(context, job_id), _state_key(job_id)
    record = context.state.config_records.get(key + ".secure")
    if state is None or record is None or key not in context.state.array_records or not is_histogram_round(config):
        reason = "no admitted secure-histogram job with this id here"
    elif record.get("done"):
        reason = "this site has contributed its secure histogram to this job already"
    elif state.admission.expires_at is not None and dt.datetime.now(dt.UTC) >= state.admission.expires_at:
        reason = "the job's ticket has expired: no further round"
    else:
        reason = ""
    if reason or state is None or record is None:
        guard.refuse_round(state.admission if state else None, reason, job_id)
        raise RuntimeError(f"refused: {reason}")
    context.state[key + ".secure"] = ConfigRecord({"spec": str(record["spec"]), "done": True})  # before the work
    spec = ValidationSpec.model_validate_json(str(record["spec"]))
    y, p = (a.numpy() for a in context.state.array_records[key].values())
    outcome = guard.run_admitted(
        state.admission, "job.secure_histogram", lambda a: site_contribution(y == 1.0, p, spec, a.rules)
    )
    if outcome.result is None:
        raise RuntimeError(f"{outcome.status}: {outcome.reason}")
    return histogram_reply(message, outcome.result)


def make_site_app(bindings: Mapping[int, SiteBinding] | None = None, checker: GrantChecker | None = None) -> ClientApp:
    """A ClientApp; `bindings`/`checker` given for simulation, else read from the SuperNode's node config."""
    app = ClientApp()

    @app.query("validate")
    def validate(message: Message, context: Context) -> Message:
        try:
            site = binding_from_context(context, bindings)
        except (KeyError, ValueError) as exc:
            return _reply(message, SiteReport(site_id="unknown", status="failed", reason=str(exc)))
        payload = message.content.config_records[PAYLOAD]
        try:
            job = JobRequest.model_validate_json(str(payload["job"]))
        except (KeyError, ValidationError) as exc:
            reason = f"unreadable job request: {type(exc).__name__}"
            return _reply(message, SiteReport(site_id=site.site_id, status="failed", reason=reason))
        model = payload.get("model")
        return _reply(message, answer_job(context, site, checker, job, model if isinstance(model, bytes) else None))

    @app.query("calibrate")
    def calibrate(message: Message, context: Context) -> Message:
        try:
            site = binding_from_context(context, bindings)
        except (KeyError, ValueError) as exc:
            return _reply(message, CalibrationReply(site_id="unknown", status="failed", reason=str(exc)))
        try:
            query = CalibrationQuery.model_validate_json(str(message.content.config_records[PAYLOAD]["json"]))
        except (KeyError, ValidationError) as exc:
            reason = f"unreadable calibration round: {type(exc).__name__}"
            return _reply(message, CalibrationReply(site_id=site.site_id, status="failed", reason=reason))
        return _reply(message, answer_round(context, site, query))

    @app.train(mods=[secure_train_mod])  # only SecAgg+'s protocol messages reach it (the secure histogram)
    def secure_histogram(message: Message, context: Context) -> Message:
        return answer_secure_histogram(context, binding_from_context(context, bindings), message)

    return app


#: The deployed app (`flower-supernode` loads `dari.federation.flower.site_app:app`).
app = make_site_app()
