"""Flower apps of the query jobs (feasibility, characterisation): the site's ClientApp and the hub's ServerApp.

Site (`run_query_site`): the job passes `dari.federation.guard.SiteGuard` (the site's own dataset id, the hub's
ticket, the grant for the job's analysis type, the site's own floor from its node config, the site's audit), so
no data is opened before a yes; then the CDM (`open_store`), the cohort function of `dari.cohort`, whose result is
disclosure-controlled as it is built under the site-enforced rules; only that result leaves. It never raises: a
refusal or a failure is a report with a reason, and a broken site is `failed`, never dropped.

Hub (`run_query_job`): one round (`query.cohort`) to every node, then `pool_feasibility` / `pool_table_one` over
the ok reports; the run names the sites the pooled figures cover.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from pydantic import ValidationError

from dari.cdm.store import open_store
from dari.cohort import FeasibilityResult, TableOne, feasibility, pool_feasibility, pool_table_one, table_one
from dari.errors import DariError, InputError
from dari.federation.flower.grants import GrantChecker
from dari.federation.flower.query_jobs import QueryRequest, QueryRun, QuerySiteReport
from dari.federation.flower.site_app import PAYLOAD, binding_from_context, checker_from_node_config
from dari.federation.guard import Admission, JobClaim, SiteBinding, SiteGuard
from dari.federation.register import admit_site_reply
from dari.federation.ticket import params_sha256

MESSAGE_TYPE = "query.cohort"
Progress = Callable[[str], None]
Engine = Literal["simulation", "deployment", "connector"]


def query_claim(request: QueryRequest) -> JobClaim:
    """What a query job claims, for the site guard (its parameters' hash computed here, at the site)."""
    return JobClaim(
        job_id=request.job_id,
        requester=request.requester,
        analysis_type=request.analysis_type,
        datasets=request.datasets,
        model_sha256=None,
        params_sha256=params_sha256(request),
        tickets=request.tickets,
        expected_grants=request.expected_grants,
        audit_checkpoint=request.audit_checkpoint,
    )


def _answer(request: QueryRequest, admission: Admission) -> QuerySiteReport:
    """The query's work once admitted: the protected cohort result under the site-enforced rules."""
    granted: dict[str, Any] = {
        "site_id": admission.site_id,
        "dataset_id": admission.dataset_id,
        "grant_id": admission.grant_id,
    }
    ledger = admission.open_ledger()  # a release that would difference an earlier one is refused (and not kept)
    store = open_store(Path(admission.site_folder))
    try:
        if request.kind == "feasibility":
            result = feasibility(
                store,
                request.definition,
                site=admission.site_id,
                rules=admission.rules,
                age_band_years=request.age_band_years,
                ledger=ledger,
            )
            return QuerySiteReport(**granted, status="ok", feasibility=result)
        assert request.table_one is not None  # the request's validator guarantees it
        t1 = table_one(
            store, request.definition, request.table_one, site=admission.site_id, rules=admission.rules, ledger=ledger
        )
        return QuerySiteReport(**granted, status="ok", table_one=t1)
    finally:
        store.close()
        ledger.close()


def run_query_site(request: QueryRequest, site: SiteBinding, checker: GrantChecker) -> QuerySiteReport:
    """This site's report for a query job: through the site guard, then the protected cohort result, or why not."""
    outcome = SiteGuard(site, checker).run(
        query_claim(request), request.disclosure, lambda admission: _answer(request, admission)
    )
    if outcome.result is not None:
        return outcome.result
    return QuerySiteReport(
        site_id=site.site_id,
        dataset_id=outcome.dataset_id,
        status=outcome.status,
        reason=outcome.reason,
        grant_id=outcome.grant_id,
    )


def answer_query(
    context: Context, site: SiteBinding, checker: GrantChecker | None, request: QueryRequest
) -> QuerySiteReport:
    """A query job at a node: the node config's grant checker unless one is given, then `run_query_site`."""
    try:
        grant_checker = checker or checker_from_node_config(context, site)
    except (DariError, OSError) as exc:  # e.g. plain http to a non-loopback hub: refused, never a crash
        return QuerySiteReport(site_id=site.site_id, status="refused", reason=f"grant checker: {exc}")
    return run_query_site(request, site, grant_checker)


def _reply(message: Message, report: QuerySiteReport) -> Message:
    return Message(RecordDict({PAYLOAD: ConfigRecord({"json": report.model_dump_json()})}), reply_to=message)


def make_query_site_app(
    bindings: Mapping[int, SiteBinding] | None = None, checker: GrantChecker | None = None
) -> ClientApp:
    """A ClientApp answering query jobs; `bindings`/`checker` given for simulation, else from the node config."""
    app = ClientApp()

    @app.query("cohort")
    def cohort(message: Message, context: Context) -> Message:
        try:  # the same binding as validation: node config `min-cell`, `rounding-base`, `dataset-id`, hub key
            site = binding_from_context(context, bindings)
        except (KeyError, ValueError) as exc:
            return _reply(message, QuerySiteReport(site_id="unknown", status="failed", reason=str(exc)))
        try:
            request = QueryRequest.model_validate_json(str(message.content.config_records[PAYLOAD]["json"]))
        except (KeyError, ValidationError) as exc:
            reason = f"unreadable query request: {type(exc).__name__}"
            return _reply(message, QuerySiteReport(site_id=site.site_id, status="failed", reason=reason))
        return _reply(message, answer_query(context, site, checker, request))

    return app


@dataclass
class QueryHubJob:
    """A query job for the ServerApp: the request, timeouts, and where the run goes."""

    request: QueryRequest
    engine: Engine = "simulation"
    node_wait_s: float = 30.0
    reply_timeout_s: float = 600.0
    progress: Progress = field(default=lambda _msg: None)
    result: list[QueryRun] = field(default_factory=list)


def _wait_for_nodes(grid: Grid, expected: int, wait_s: float) -> list[int]:
    deadline = time.monotonic() + wait_s
    nodes = list(grid.get_node_ids())
    while len(nodes) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        nodes = list(grid.get_node_ids())
    return nodes


def _checked(request: QueryRequest, report: QuerySiteReport) -> QuerySiteReport:
    """An ok report must answer this job (its kind and definition); otherwise the hub counts it failed."""
    result: FeasibilityResult | TableOne | None = report.feasibility or report.table_one
    if report.status != "ok" or result is None:
        return report
    why = ""
    if (request.kind == "feasibility") != (report.feasibility is not None):
        why = "answered another job type"
    elif result.site != report.site_id or result.definition_digest != request.definition.digest():
        why = "answered another site or cohort definition"
    elif (
        report.table_one is not None
        and request.table_one is not None
        and report.table_one.request_digest != request.table_one.digest()
    ):
        why = "answered another Table 1 request"
    if not why:
        return report
    return QuerySiteReport(
        site_id=report.site_id, dataset_id=report.dataset_id, status="failed", grant_id=report.grant_id, reason=why
    )


def collect_query_reports(grid: Grid, job: QueryHubJob, nodes: Sequence[int]) -> dict[str, QuerySiteReport]:
    """The single round: every expected site's report (a site that never answers is failed, 'no reply')."""
    record = RecordDict({PAYLOAD: ConfigRecord({"json": job.request.model_dump_json()})})
    messages = [Message(record, dst_node_id=n, message_type=MESSAGE_TYPE) for n in nodes]
    reports: dict[str, QuerySiteReport] = {}
    for reply in grid.send_and_receive(messages, timeout=job.reply_timeout_s):
        if reply.has_error():
            job.progress(f"node {reply.metadata.src_node_id} failed: {reply.error.reason}")
            continue
        payload = str(reply.content.config_records[PAYLOAD]["json"])
        report = admit_site_reply(QuerySiteReport, payload, job.request.disclosure)  # parsed, re-checked
        if report.site_id not in job.request.datasets:
            job.progress(f"ignoring a reply from {report.site_id}, not part of the job")
            continue
        reports[report.site_id] = _checked(job.request, report)
        job.progress(f"{report.site_id}: {report.status}{' — ' + report.reason if report.reason else ''}")
    for site_id, dataset in job.request.datasets.items():
        if site_id not in reports:
            reports[site_id] = QuerySiteReport(site_id=site_id, dataset_id=dataset, status="failed", reason="no reply")
    return dict(sorted(reports.items()))


def pool_reports(
    request: QueryRequest, reports: Mapping[str, QuerySiteReport], engine: Engine, started: float
) -> QueryRun:
    """The run: pooled figures over the ok sites (named in `covered`), refusals and failures kept."""
    covered = tuple(s for s, r in reports.items() if r.status == "ok")
    pooled: dict[str, Any] = {}
    error = ""
    try:
        if covered and request.kind == "feasibility":
            pooled["pooled_feasibility"] = pool_feasibility([r.feasibility for r in reports.values() if r.feasibility])
        elif covered:
            pooled["pooled_table_one"] = pool_table_one([r.table_one for r in reports.values() if r.table_one])
    except InputError as exc:
        error = str(exc)
    return QueryRun(
        job_id=request.job_id,
        kind=request.kind,
        requester=request.requester,
        definition_name=request.definition.name,
        definition_digest=request.definition.digest(),
        sites=dict(reports),
        covered=covered if not error else (),
        refused=tuple(s for s, r in reports.items() if r.status == "refused"),
        failed=tuple(s for s, r in reports.items() if r.status == "failed"),
        pooling_error=error,
        engine=engine,
        wall_seconds=time.monotonic() - started,
        **pooled,
    )


def run_query_job(grid: Grid, job: QueryHubJob) -> QueryRun:
    """The whole query job on a Grid: wait for the sites, one round, pool."""
    started = time.monotonic()
    expected = len(job.request.datasets)
    nodes = _wait_for_nodes(grid, expected, job.node_wait_s)
    job.progress(f"{len(nodes)} of {expected} site nodes connected; sending {job.request.kind} {job.request.job_id}")
    reports = collect_query_reports(grid, job, nodes)
    return pool_reports(job.request, reports, job.engine, started)


def make_query_hub_app(job: QueryHubJob) -> ServerApp:
    """A ServerApp running `job`; the run lands in `job.result`."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        job.result.append(run_query_job(grid, job))

    return app


def _deployed_main(grid: Grid, context: Context) -> None:
    """Deployment: the request (JSON) comes from the run config's `request-file`; the run goes to `result-file`."""
    cfg = context.run_config
    request = QueryRequest.model_validate_json(Path(str(cfg["request-file"])).read_text(encoding="utf-8"))
    run = run_query_job(grid, QueryHubJob(request=request, engine="deployment", node_wait_s=120.0))
    result = Path(str(cfg["result-file"]))
    partial = result.with_name(result.name + ".partial")  # write then rename: never read half-written
    partial.write_text(run.model_dump_json(indent=2), encoding="utf-8")
    partial.replace(result)


#: The deployed apps (`dari.federation.flower.query_apps:hub_app` / `:site_app`).
hub_app = ServerApp()
hub_app.main()(_deployed_main)
site_app = make_query_site_app()
