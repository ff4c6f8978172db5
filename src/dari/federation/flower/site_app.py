"""The site's Flower ClientApp: answers a validation job and its Newton rounds, releasing aggregates only.

Node config (set per SuperNode with `flower-supernode --node-config`):

* `site-id` and `site-folder` — the hospital's id and its site folder (CDM in `cdm.duckdb`);
* how the grant is checked: `hub-url` + `hub-token-file` (the hub's REST API, the normal case), or `hub-db`
  (the hub store itself), or `no-governance = true` (synthetic site folders only).

In simulation (`make_site_app(bindings, checker)`) the virtual node's `partition-id` picks its binding.
The scored cohort stays in the node's `context.state` between the job and its Newton rounds: on the site.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from pydantic import BaseModel, ConfigDict

from dari.disclosure import DisclosureRefusedError, DisclosureRules
from dari.federation.flower.grants import (
    GrantChecker,
    HubApiGrantChecker,
    HubStoreGrantChecker,
    SyntheticOnlyGrantChecker,
)
from dari.federation.flower.jobs import CalibrationQuery, CalibrationReply, JobRequest, SiteReport
from dari.federation.flower.site_work import run_site_job
from dari.validation import UndefinedMetricWarning, site_logistic_step

PAYLOAD = "dari"  # the ConfigRecord every message carries


class SiteBinding(BaseModel):
    """Which site a (virtual) node is: its id and its folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    site_id: str
    folder: str
    # The site's own disclosure floor: a job's rules never go below it (node config `min-cell`, default 10 / 5).
    floor: DisclosureRules = DisclosureRules()


def _node_value(context: Context, key: str) -> str | None:
    value = context.node_config.get(key)
    return None if value is None else str(value)


def _binding(context: Context, bindings: Mapping[int, SiteBinding] | None) -> SiteBinding:
    if bindings is not None:
        return bindings[int(context.node_config["partition-id"])]
    site_id, folder = _node_value(context, "site-id"), _node_value(context, "site-folder")
    if not site_id or not folder:
        raise ValueError("the SuperNode needs --node-config \"site-id='…' site-folder='…'\"")
    min_cell = _node_value(context, "min-cell")
    floor = DisclosureRules(min_cell=int(min_cell)) if min_cell else DisclosureRules()
    return SiteBinding(site_id=site_id, folder=folder, floor=floor)


def checker_from_node_config(context: Context, site: SiteBinding, dataset_id: str) -> GrantChecker:
    """The grant checker a deployed SuperNode's node config names (refusing every job when it names none)."""
    url, token_file, db = (_node_value(context, k) for k in ("hub-url", "hub-token-file", "hub-db"))
    if url and token_file:
        return HubApiGrantChecker(url, Path(token_file).read_text(encoding="utf-8").strip())
    if db:
        return HubStoreGrantChecker.from_url(db)
    if str(context.node_config.get("no-governance", "")).lower() == "true":
        return SyntheticOnlyGrantChecker({dataset_id: site.folder})
    return SyntheticOnlyGrantChecker({})  # no hub configured: nothing is allowed


def _reply(message: Message, record: BaseModel) -> Message:
    return Message(RecordDict({PAYLOAD: ConfigRecord({"json": record.model_dump_json()})}), reply_to=message)


def _state_key(job_id: str) -> str:
    return f"dari.validation.{job_id}"


def make_site_app(bindings: Mapping[int, SiteBinding] | None = None, checker: GrantChecker | None = None) -> ClientApp:
    """A ClientApp; `bindings`/`checker` given for simulation, else read from the SuperNode's node config."""
    app = ClientApp()

    @app.query("validate")
    def validate(message: Message, context: Context) -> Message:
        payload = message.content.config_records[PAYLOAD]
        job = JobRequest.model_validate_json(str(payload["job"]))
        try:
            site = _binding(context, bindings)
        except (KeyError, ValueError) as exc:
            return _reply(message, SiteReport(site_id="unknown", status="failed", reason=str(exc)))
        model = payload.get("model")
        dataset = job.datasets.get(site.site_id, "")
        grant_checker = checker or checker_from_node_config(context, site, dataset)
        report, scored = run_site_job(
            job,
            model if isinstance(model, bytes) else None,
            site.site_id,
            Path(site.folder),
            grant_checker,
            floor=site.floor,
        )
        if scored is not None and report.status == "ok":
            # Row-level scores stay in the node's own state for the job's Newton rounds.
            context.state[_state_key(job.job_id)] = ArrayRecord(numpy_ndarrays=[scored.y.astype(np.float64), scored.p])
            context.state[_state_key(job.job_id) + ".rules"] = ConfigRecord({"json": job.disclosure.model_dump_json()})
        return _reply(message, report)

    @app.query("calibrate")
    def calibrate(message: Message, context: Context) -> Message:
        query = CalibrationQuery.model_validate_json(str(message.content.config_records[PAYLOAD]["json"]))
        site = _binding(context, bindings)
        key = _state_key(query.job_id)
        if key not in context.state:  # only a job this site validated (so: granted) gets Newton rounds
            reply = CalibrationReply(site_id=site.site_id, status="refused", reason="no granted job with this id here")
            return _reply(message, reply)
        y, p = (a.numpy() for a in context.state.array_records[key].values())
        rules = DisclosureRules.model_validate_json(str(context.state.config_records[key + ".rules"]["json"]))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                steps = tuple(site_logistic_step(y == 1.0, p, q.params, q.offset_mode, rules) for q in query.steps)
        except DisclosureRefusedError as exc:
            return _reply(message, CalibrationReply(site_id=site.site_id, status="refused", reason=str(exc)))
        return _reply(message, CalibrationReply(site_id=site.site_id, status="ok", steps=steps))

    return app


#: The deployed app (`flower-supernode` loads `dari.federation.flower.site_app:app`).
app = make_site_app()
