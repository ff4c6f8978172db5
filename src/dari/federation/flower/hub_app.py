"""The hub's Flower ServerApp: sends the job, collects the site reports, runs the Newton rounds, pools.

Round 1 (`query.validate`): the job request and the model go to every node; each answers with a `SiteReport`.
Rounds 2… (`query.calibrate`): `newton_fit` of `dari.validation` drives federated Newton–Raphson for
calibration-in-the-large and the calibration slope together (one `send_and_receive` per iteration carries both
fits' parameters), from (0, 1), each round with the pooled sums of the previous one: every site replays the path
and refuses parameters that are not on it (`dari.federation.flower.calibration`).
A site that fails a round is reported as failed and both fits restart without it, so `pooled` always covers
exactly the sites named in `covered`. Expected sites that never answer are failed ("no reply"), never dropped.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.app.typing import ConfigRecordValues
from flwr.serverapp import Grid, ServerApp

from dari.disclosure import DisclosureRefusedError, DisclosureRules
from dari.federation.flower.calibration import pool_steps
from dari.federation.flower.jobs import (
    CalibrationQuery,
    CalibrationReply,
    CalibrationStep,
    JobRequest,
    SiteReport,
    ValidationRun,
)
from dari.federation.flower.secure_agg import SecureAggregationError
from dari.federation.flower.secure_histogram import SecureAuroc, secure_pooled_auroc
from dari.federation.flower.site_app import PAYLOAD
from dari.federation.register import admit_site_reply
from dari.validation import (
    Estimate,
    LogisticFit,
    LogisticStepStats,
    MetaAnalysis,
    OffsetMode,
    UndefinedMetricWarning,
    ValidationSpec,
    meta_analyse,
    meta_analyse_auroc,
    meta_analyse_subgroups,
    newton_fit,
    pool_site_statistics,
)

Progress = Callable[[str], None]


class HubRequest(Protocol):
    """What the hub's rounds read of a job request: a tabular `JobRequest` or an imaging validation's."""

    @property
    def job_id(self) -> str: ...
    @property
    def requester(self) -> str: ...
    @property
    def model_sha256(self) -> str: ...
    @property
    def datasets(self) -> dict[str, str]: ...
    @property
    def validation(self) -> ValidationSpec: ...
    @property
    def disclosure(self) -> DisclosureRules: ...
    @property
    def secure_histogram(self) -> bool: ...
    def model_dump_json(self) -> str: ...


class SiteDroppedError(Exception):
    """A covered site did not answer a Newton round."""

    def __init__(self, site_id: str, reason: str) -> None:
        super().__init__(f"{site_id}: {reason}")
        self.site_id, self.reason = site_id, reason


@dataclass
class HubJob:
    """A job for the ServerApp: the request, the model's bytes, timeouts, and where the result goes."""

    request: HubRequest
    model_bytes: bytes | None
    engine: Literal["simulation", "deployment"] = "simulation"
    node_wait_s: float = 30.0
    reply_timeout_s: float = 600.0
    progress: Progress = field(default=lambda _msg: None)
    result: list[ValidationRun] = field(default_factory=list)


def _wait_for_nodes(grid: Grid, expected: int, wait_s: float) -> list[int]:
    deadline = time.monotonic() + wait_s
    nodes = list(grid.get_node_ids())
    while len(nodes) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        nodes = list(grid.get_node_ids())
    return nodes


def _payload(message: Message) -> str:
    return str(message.content.config_records[PAYLOAD]["json"])


def collect_reports(grid: Grid, job: HubJob, nodes: Sequence[int]) -> tuple[dict[str, SiteReport], dict[str, int]]:
    """Round 1: every node's report, keyed by site id, and which node each covered site is."""
    content: dict[str, ConfigRecordValues] = {"job": job.request.model_dump_json()}
    if job.model_bytes is not None:
        content["model"] = job.model_bytes
    messages = [
        Message(RecordDict({PAYLOAD: ConfigRecord(content)}), dst_node_id=n, message_type="query.validate")
        for n in nodes
    ]
    reports: dict[str, SiteReport] = {}
    node_of: dict[str, int] = {}
    for reply in grid.send_and_receive(messages, timeout=job.reply_timeout_s):
        if reply.has_error():
            job.progress(f"node {reply.metadata.src_node_id} failed: {reply.error.reason}")
            continue
        report = admit_site_reply(SiteReport, _payload(reply), job.request.disclosure)  # parsed, re-checked
        reports[report.site_id] = report
        node_of[report.site_id] = reply.metadata.src_node_id
        job.progress(f"{report.site_id}: {report.status}{' — ' + report.reason if report.reason else ''}")
    for site_id, dataset in job.request.datasets.items():
        if site_id not in reports:
            reports[site_id] = SiteReport(site_id=site_id, dataset_id=dataset, status="failed", reason="no reply")
    return reports, node_of


def _query_round(
    grid: Grid, job: HubJob, node_of: Mapping[str, int], steps: Sequence[CalibrationStep]
) -> list[list[LogisticStepStats]]:
    """One round for every running fit at once; per step, the covered sites' sums in `node_of`'s order."""
    query = CalibrationQuery(job_id=job.request.job_id, sites=tuple(node_of), steps=tuple(steps))
    record = RecordDict({PAYLOAD: ConfigRecord({"json": query.model_dump_json()})})
    messages = [Message(record, dst_node_id=n, message_type="query.calibrate") for n in node_of.values()]
    answered: dict[str, tuple[LogisticStepStats, ...]] = {}
    for reply in grid.send_and_receive(messages, timeout=job.reply_timeout_s):
        if reply.has_error():
            continue
        answer = admit_site_reply(CalibrationReply, _payload(reply), job.request.disclosure)
        if answer.status != "ok" or len(answer.steps) != len(steps):
            raise SiteDroppedError(answer.site_id, f"calibration round {answer.status}: {answer.reason}")
        pairs = zip(answer.steps, steps, strict=True)
        if any((a.offset_mode, a.params) != (q.offset_mode, q.params) for a, q in pairs):
            raise SiteDroppedError(answer.site_id, "answered another calibration round")
        answered[answer.site_id] = answer.steps
    for site_id in node_of:
        if site_id not in answered:
            raise SiteDroppedError(site_id, "no reply to a calibration round (offline?)")
    return [[answered[s][i] for s in node_of] for i in range(len(steps))]


def _fits(grid: Grid, job: HubJob, node_of: Mapping[str, int]) -> tuple[LogisticFit, LogisticFit]:
    """Calibration-in-the-large and the slope, fitted together: each round carries both fits' queries.

    Both fits start at (0, 1) and every round broadcasts the pooled sums the next parameters follow from: each
    site replays the same Newton path and answers only parameters on it (`calibration.check_round`). The
    generator is fed the pooled total itself, so the hub's path and every site's replay are bit for bit one path.
    """
    modes: tuple[OffsetMode, OffsetMode] = ("citl", "slope")
    running = {m: newton_fit(m) for m in modes}
    pending = {m: next(fit) for m, fit in running.items()}
    previous: dict[OffsetMode, LogisticStepStats | None] = dict.fromkeys(modes)
    done: dict[OffsetMode, LogisticFit] = {}
    while pending:
        order = list(pending)
        steps = [CalibrationStep(offset_mode=m, params=pending[m], previous=previous[m]) for m in order]
        answers = _query_round(grid, job, node_of, steps)
        for mode, stats in zip(order, answers, strict=True):
            total = pool_steps(stats)
            try:
                pending[mode] = running[mode].send([total])
                previous[mode] = total
            except StopIteration as finished:
                done[mode] = finished.value
                del pending[mode]
    return done["citl"], done["slope"]


def _meta(reports: Mapping[str, SiteReport], covered: Sequence[str], confidence: float) -> dict[str, MetaAnalysis]:
    metrics = {s: reports[s].metrics for s in covered}
    auroc = {
        s: Estimate(**m.auroc.model_dump(include={"estimate", "se", "ci_low", "ci_high"}))
        for s, m in metrics.items()
        if m
    }
    slope = {s: m.calibration.slope for s, m in metrics.items() if m}
    citl = {s: m.calibration.citl for s, m in metrics.items() if m}
    return {
        "auroc": meta_analyse_auroc(auroc, confidence=confidence),
        "calibration_slope": meta_analyse(slope, confidence=confidence),
        "calibration_intercept": meta_analyse(citl, confidence=confidence),
    }


def run_job(grid: Grid, job: HubJob) -> ValidationRun:
    """The whole job on a Grid: reports, Newton rounds (restarting without a site that drops), pooling."""
    started = time.monotonic()
    expected = len(job.request.datasets)
    nodes = _wait_for_nodes(grid, expected, job.node_wait_s)
    job.progress(f"{len(nodes)} of {expected} site nodes connected; sending job {job.request.job_id}")
    reports, node_of = collect_reports(grid, job, nodes)
    covered = {s: n for s, n in node_of.items() if reports[s].status == "ok"}
    pooled = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        while covered:
            try:
                job.progress(f"calibration rounds over {', '.join(covered)}")
                citl, slope = _fits(grid, job, covered)
            except SiteDroppedError as exc:
                job.progress(f"{exc.site_id} dropped out: {exc.reason}")
                old = reports[exc.site_id]
                reports[exc.site_id] = SiteReport(
                    site_id=old.site_id,
                    dataset_id=old.dataset_id,
                    status="failed",
                    grant_id=old.grant_id,
                    reason=exc.reason,
                )
                del covered[exc.site_id]
                continue
            stats = [r.statistics for s in covered if (r := reports[s]).statistics is not None]
            pooled = pool_site_statistics(stats, citl, slope, job.request.validation)
            break
        secure = _secure_auroc(grid, job, covered) if job.request.secure_histogram and pooled is not None else None
        confidence = job.request.validation.confidence
        meta = _meta(reports, list(covered), confidence) if covered else {}
        by_site = {s: r.subgroups for s in sorted(covered) if (r := reports[s]).subgroups}
        subgroup_meta = meta_analyse_subgroups(by_site, confidence=confidence)
    return ValidationRun(
        job_id=job.request.job_id,
        model_sha256=job.request.model_sha256,
        requester=job.request.requester,
        sites=dict(sorted(reports.items())),
        covered=tuple(sorted(covered)),
        refused=tuple(sorted(s for s, r in reports.items() if r.status == "refused")),
        failed=tuple(sorted(s for s, r in reports.items() if r.status == "failed")),
        pooled=pooled,
        meta_analysis=meta,
        subgroup_meta=subgroup_meta,
        engine=job.engine,
        wall_seconds=time.monotonic() - started,
        secure_auroc=secure,
    )


def _secure_auroc(grid: Grid, job: HubJob, covered: Mapping[str, int]) -> SecureAuroc | None:
    """The SecAgg+ pooled AUROC over the covered sites (None, said in the progress, when it cannot be had)."""
    request = job.request
    try:
        secure = secure_pooled_auroc(grid, request.job_id, covered, request.validation, request.disclosure)
    except (SecureAggregationError, DisclosureRefusedError) as exc:
        job.progress(f"secure histogram: {exc}")
        return None
    job.progress(f"secure pooled AUROC over {', '.join(secure.sites)} (error bound {secure.error_bound:.1e})")
    return secure


def make_hub_app(job: HubJob) -> ServerApp:
    """A ServerApp running `job`; the run lands in `job.result`."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        job.result.append(run_job(grid, job))

    return app


def _deployed_main(grid: Grid, context: Context) -> None:
    """Deployment: the job request (JSON) and the model come from files named in the run config
    (`job-file`, `model-file`); the run is written to `result-file`."""
    from pathlib import Path

    cfg = context.run_config
    request = JobRequest.model_validate_json(Path(str(cfg["job-file"])).read_text(encoding="utf-8"))
    model = Path(str(cfg["model-file"])).read_bytes() if "model-file" in cfg else None
    run = run_job(grid, HubJob(request=request, model_bytes=model, engine="deployment", node_wait_s=120.0))
    # Write then rename: whoever waits for the result file never reads it half-written.
    result = Path(str(cfg["result-file"]))
    partial = result.with_name(result.name + ".partial")
    partial.write_text(run.model_dump_json(indent=2), encoding="utf-8")
    partial.replace(result)


#: The deployed app (`flwr run` of an app whose pyproject names `dari.federation.flower.hub_app:app`).
app = ServerApp()
app.main()(_deployed_main)
