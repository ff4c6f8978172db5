"""Flower apps of a federated training job: the site's ClientApp and the hub's ServerApp (FedAvg or FedProx).

Round 0 (`query.train_stats`): the signed job goes to every node; each site passes the guard
(`train_site.admit_training`) and answers with its protected cohort size and its inputs' moments; the hub pools
them into one standardisation. Rounds 1…R are Flower's own strategies (`flwr.serverapp.strategy.FedAvg` /
`FedProx`, weighted by `num-examples`) over the admitted sites only. A site takes from each `train` message only
the global parameters and the pooled scale: the local optimisation (steps, learning rate, L2, FedProx's μ) is the
admitted job's, signed by the hub's ticket, never the message's. Each update passes `SiteGuard.run_admitted` and
the round limit (`min(ticket, node config max-rounds)`); the hub re-checks every update (`TrainUpdate`: its
weight a protected count, its parameters finite and of the model's size) before Flower averages it. A site that
refuses or fails a round is left out of that round's average and the run says which sites each round pooled.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, FedProx, FedTrimmedAvg, FedXgbBagging, Krum
from pydantic import BaseModel, ValidationError

from dari.errors import InputError
from dari.federation.dp_budget import PrivacyBudgetRefusedError, charge_round
from dari.federation.flower.grants import GrantChecker
from dari.federation.flower.hub_app import Progress
from dari.federation.flower.secure_agg import SECAGG_RECORD, secure_fedavg, secure_train_mod
from dari.federation.flower.site_app import PAYLOAD, binding_from_context, checker_from_node_config
from dari.federation.flower.train_checkpoint import (
    TrainCheckpoint,
    training_fingerprint,
    write_checkpoint,
)
from dari.federation.flower.train_jobs import TrainRequest, TrainRun, TrainStats, TrainUpdate
from dari.federation.flower.train_site import TrainingCohort, admit_training, site_update
from dari.federation.guard import Admission, SiteBinding, SiteGuard
from dari.federation.register import admit_site_reply, recheck_release
from dari.training import pooled_moments
from dari.training.boosted import check_trees
from dari.training.dp import privacy_record
from dari.training.mlp import MlpShape, initial_parameters


class _TrainState(BaseModel):
    admission: Admission
    job: TrainRequest
    num_examples: int
    rounds: int = 0


def _key(job_id: str) -> str:
    return f"dari.training.{job_id}"


def _reply(message: Message, record: BaseModel) -> Message:
    return Message(RecordDict({PAYLOAD: ConfigRecord({"json": record.model_dump_json()})}), reply_to=message)


def answer_train_stats(
    context: Context, site: SiteBinding, checker: GrantChecker | None, job: TrainRequest
) -> TrainStats:
    """The admission round at a site; on ok its rows and admission stay in the node's state (on the site)."""
    try:
        grant_checker = checker or checker_from_node_config(context, site)
    except (OSError, ValueError) as exc:
        return TrainStats(site_id=site.site_id, status="refused", reason=f"grant checker: {exc}")
    stats, cohort, admission = admit_training(job, site, grant_checker)
    if cohort is not None and admission is not None:
        context.state[_key(job.job_id)] = ArrayRecord(numpy_ndarrays=[cohort.x, cohort.y])
        state = _TrainState(admission=admission, job=job, num_examples=cohort.num_examples)
        context.state[_key(job.job_id) + ".state"] = ConfigRecord({"json": state.model_dump_json()})
    return stats


def answer_train_round(context: Context, site: SiteBinding, content: RecordDict) -> TrainUpdate:
    """One `train` message through the guard; `RuntimeError` (an error reply, left out of the average) if refused."""
    guard = SiteGuard(site, None)
    config = content.config_records["config"]
    job_id = str(config.get("job-id", ""))
    key = _key(job_id)
    if key + ".state" not in context.state.config_records or key not in context.state.array_records:
        guard.refuse_round(None, "no admitted training job with this id here", job_id)
        raise RuntimeError("refused: no admitted training job with this id here")
    state = _TrainState.model_validate_json(str(context.state.config_records[key + ".state"]["json"]))
    admission = state.admission
    reason = ""
    if admission.expires_at is not None and dt.datetime.now(dt.UTC) >= admission.expires_at:
        reason = "the job's ticket has expired: no further round"
    elif state.rounds >= admission.max_rounds:
        reason = f"the job has had its {admission.max_rounds} training rounds at this site"
    elif state.job.secure_aggregation and SECAGG_RECORD not in content.config_records:  # secagg hook
        reason = "the job was admitted for secure aggregation: no plain update leaves this site"
    if not reason:  # dp hook: the grant's ε budget, charged before the work (the site's ε ledger)
        try:
            charge_round(admission, state.job.dp, state.job.local_steps, state.rounds + 1)
        except PrivacyBudgetRefusedError as exc:
            reason = str(exc)
    if reason:
        guard.refuse_round(admission, reason, job_id)
        raise RuntimeError(f"refused: {reason}")
    state.rounds += 1  # counted before the work: a failing round still spends one
    context.state[key + ".state"] = ConfigRecord({"json": state.model_dump_json()})
    x, y = context.state.array_records[key].to_numpy_ndarrays()
    cohort = TrainingCohort(x, y, state.num_examples)
    (weights,) = content.array_records["arrays"].to_numpy_ndarrays()
    mean = [float(v) for v in config["mean"]]  # type: ignore[union-attr]
    scale = [float(v) for v in config["scale"]]  # type: ignore[union-attr]
    base = config.get("base-score", 0.5)
    base_score = min(max(float(base), 1e-3), 1 - 1e-3) if isinstance(base, int | float) else 0.5
    outcome = guard.run_admitted(
        admission,
        "job.round",
        lambda a: site_update(cohort, state.job, weights, mean, scale, base_score, a.rules, state.job.dp),
    )
    if outcome.result is None:
        raise RuntimeError(f"{outcome.status}: {outcome.reason}")
    return outcome.result


def make_train_site_app(
    bindings: Mapping[int, SiteBinding] | None = None, checker: GrantChecker | None = None
) -> ClientApp:
    """The site's training ClientApp; `bindings`/`checker` given for simulation, else the node config's."""
    app = ClientApp()

    @app.query("train_stats")
    def stats(message: Message, context: Context) -> Message:
        try:
            site = binding_from_context(context, bindings)
        except (KeyError, ValueError) as exc:
            return _reply(message, TrainStats(site_id="unknown", status="failed", reason=str(exc)))
        try:
            job = TrainRequest.model_validate_json(str(message.content.config_records[PAYLOAD]["job"]))
        except (KeyError, ValidationError) as exc:
            reason = f"unreadable training job: {type(exc).__name__}"
            return _reply(message, TrainStats(site_id=site.site_id, status="failed", reason=reason))
        return _reply(message, answer_train_stats(context, site, checker, job))

    @app.train(mods=[secure_train_mod])  # SecAgg+ rounds go through Flower's secaggplus_mod; plain ones pass
    def train(message: Message, context: Context) -> Message:
        site = binding_from_context(context, bindings)
        update = answer_train_round(context, site, message.content)
        if update.trees:  # xgboost: the new trees' JSON bytes, as Flower's FedXgbBagging expects them
            array = np.frombuffer(update.trees.encode("utf-8"), dtype=np.uint8)
        else:
            array = np.asarray(update.weights)
        content = RecordDict(
            {
                "arrays": ArrayRecord(numpy_ndarrays=[array]),
                "metrics": MetricRecord({"num-examples": update.num_examples}),
                PAYLOAD: ConfigRecord({"site": site.site_id}),
            }
        )
        return Message(content, reply_to=message)

    return app


@dataclass
class HubTrainJob:
    """A training job for the ServerApp: the request, timeouts, and where the result goes."""

    request: TrainRequest
    node_wait_s: float = 30.0
    reply_timeout_s: float = 600.0
    progress: Progress = field(default=lambda _msg: None)
    result: list[TrainRun] = field(default_factory=list)
    checkpoint: Path | None = None
    resume: TrainCheckpoint | None = None


class _AdmittedGrid:
    """The grid as the strategy sees it: only the nodes of sites that passed the admission round."""

    def __init__(self, grid: Grid, nodes: Sequence[int]) -> None:
        self._grid, self._nodes = grid, list(nodes)

    def get_node_ids(self) -> list[int]:
        """The admitted nodes."""
        return list(self._nodes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)


def _rechecked(job: HubTrainJob, replies: Iterable[Message], size: int, pooled: list[str]) -> list[Message]:
    """The round's replies whose update passes the register's re-check; the others are named and left out."""
    kept = []
    for reply in replies:
        if reply.has_error():
            job.progress(f"a site left round out: {str(reply.error.reason)[:160]}")
            continue
        site = str(reply.content.config_records[PAYLOAD]["site"]) if PAYLOAD in reply.content.config_records else "?"
        try:
            update = _update_of(reply, job.request, size)
            recheck_release(update, job.request.disclosure)
        except (KeyError, ValueError, TypeError, InputError) as exc:
            job.progress(f"{site}: update refused by the hub's re-check ({type(exc).__name__})")
            continue
        pooled.append(site)
        kept.append(reply)
    return kept


def _update_of(reply: Message, request: TrainRequest, size: int) -> TrainUpdate:
    """The reply as the typed update it must be; `ValueError`/`InputError` for a wrong size, NaN or bad trees."""
    (array,) = reply.content.array_records["arrays"].to_numpy_ndarrays()
    num = reply.content.metric_records["metrics"]["num-examples"]
    if not isinstance(num, int | float):
        raise TypeError("num-examples is not a number")
    if request.model == "xgboost":
        if array.dtype != np.uint8:
            raise TypeError("the trees are not bytes")
        trees = array.tobytes()
        if check_trees(trees, size) != request.local_trees:
            raise ValueError(f"an update must hold exactly {request.local_trees} new trees")
        return TrainUpdate(num_examples=int(num), trees=trees.decode("utf-8"))
    update = TrainUpdate(num_examples=int(num), weights=tuple(float(v) for v in array.ravel()))
    if array.shape != (size,) or not np.isfinite(update.weights).all():
        raise ValueError("parameters of the wrong size or not finite")  # a NaN update never reaches the average
    return update


def _base_strategy(request: TrainRequest) -> tuple[type[FedAvg], dict[str, Any]]:
    """Flower's strategy class for the job and its own settings."""
    if request.model == "xgboost":
        return FedXgbBagging, {}
    if request.aggregation == "trimmed_mean":
        return FedTrimmedAvg, {"beta": request.trim_beta}
    if request.aggregation == "krum":
        return Krum, {"num_malicious_nodes": request.krum_malicious}
    if request.strategy == "fedprox":
        return FedProx, {"proximal_mu": request.proximal_mu}
    return FedAvg, {}


@dataclass
class RoundLog:
    """What the hub keeps of each round: which sites it pooled, and where the checkpoint goes."""

    pooled: list[list[str]] = field(default_factory=list)
    offset: int = 0
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    base_score: float = 0.5


def make_strategy(job: HubTrainJob, size: int, log: RoundLog) -> FedAvg:
    """Flower's strategy over whatever the admitted sites send, each round's updates re-checked first and the
    aggregate checkpointed after it (atomically)."""
    base, kw = _base_strategy(job.request)
    fingerprint = training_fingerprint(job.request)

    class Checked(base):  # type: ignore[valid-type,misc]
        def aggregate_train(
            self, server_round: int, replies: Iterable[Message]
        ) -> tuple[ArrayRecord | None, MetricRecord | None]:
            pooled: list[str] = []
            kept = _rechecked(job, replies, size, pooled)
            log.pooled.append(sorted(pooled))
            arrays, metrics = super().aggregate_train(server_round, kept)
            if arrays is not None and job.checkpoint is not None:
                (model,) = arrays.to_numpy_ndarrays()
                trees = model.tobytes().decode("utf-8") if job.request.model == "xgboost" else ""
                write_checkpoint(
                    job.checkpoint,
                    TrainCheckpoint(
                        fingerprint=fingerprint,
                        round=log.offset + server_round,
                        weights=() if trees else tuple(float(v) for v in model),
                        trees=trees,
                        mean=tuple(log.mean),
                        scale=tuple(log.scale),
                        base_score=log.base_score,
                        pooled=tuple(tuple(r) for r in log.pooled),
                    ),
                )
            return arrays, metrics

    return Checked(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=1, min_available_nodes=1, **kw)


def _wait_for_nodes(grid: Grid, expected: int, wait_s: float) -> list[int]:
    deadline = time.monotonic() + wait_s
    nodes = list(grid.get_node_ids())
    while len(nodes) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        nodes = list(grid.get_node_ids())
    return nodes


def _admission_round(grid: Grid, job: HubTrainJob) -> tuple[dict[str, TrainStats], dict[str, int]]:
    nodes = _wait_for_nodes(grid, len(job.request.datasets), job.node_wait_s)
    record = RecordDict({PAYLOAD: ConfigRecord({"job": job.request.model_dump_json()})})
    messages = [Message(record, dst_node_id=n, message_type="query.train_stats") for n in nodes]
    stats: dict[str, TrainStats] = {}
    node_of: dict[str, int] = {}
    for reply in grid.send_and_receive(messages, timeout=job.reply_timeout_s):
        if reply.has_error():
            job.progress(f"node {reply.metadata.src_node_id} failed: {str(reply.error.reason)[:160]}")
            continue
        answer = admit_site_reply(
            TrainStats, str(reply.content.config_records[PAYLOAD]["json"]), job.request.disclosure
        )
        stats[answer.site_id] = answer
        node_of[answer.site_id] = reply.metadata.src_node_id
        job.progress(f"{answer.site_id}: {answer.status}{' — ' + answer.reason if answer.reason else ''}")
    for site_id, dataset in job.request.datasets.items():
        stats.setdefault(site_id, TrainStats(site_id=site_id, dataset_id=dataset, status="failed", reason="no reply"))
    return stats, node_of


def _weight(stats: TrainStats) -> float:
    return float(stats.n.value or 0) if stats.n is not None else 0.0


def _events(stats: TrainStats) -> float:
    return float(stats.events.value or 0) if stats.events is not None and stats.events.value else 0.0


def initial_model(request: TrainRequest, resume: TrainCheckpoint | None) -> np.ndarray:
    """The global model the first round broadcasts: the checkpoint's, or the family's fresh start."""
    d = len(request.spec().feature_names)
    if resume is not None:
        if request.model == "xgboost":
            return np.frombuffer(resume.trees.encode("utf-8"), dtype=np.uint8)
        return np.asarray(resume.weights, dtype=np.float64)
    if request.model == "xgboost":
        return np.zeros(0, dtype=np.uint8)  # FedXgbBagging: no trees yet
    if request.model == "mlp":
        return initial_parameters(MlpShape(d, request.hidden), request.seed)
    return np.zeros(d + 1)


def _dropped_out(pooled: list[list[str]], offset: int) -> dict[str, int]:
    """Each site that had trained and then sent no usable update, with the first round it was missing."""
    dropped: dict[str, int] = {}
    seen: set[str] = set()
    for i, sites in enumerate(pooled):
        for site in seen - set(sites) - set(dropped):
            dropped[site] = offset + i + 1
        seen |= set(sites)
    return dropped


def make_train_hub_app(job: HubTrainJob) -> ServerApp:
    """The hub's ServerApp for one training job (the result lands in `job.result`)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        request, resume = job.request, job.resume
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        stats, node_of = _admission_round(grid, job)
        ok = {s: st for s, st in stats.items() if st.status == "ok" and st.n is not None and st.n.value}
        names = request.spec().feature_names
        if not ok:
            job.progress("no site admitted the training job: nothing trained")
            return
        log = RoundLog(offset=resume.round if resume else 0)
        if resume is not None:  # the same standardisation as the rounds already done
            log.mean, log.scale, log.base_score = list(resume.mean), list(resume.scale), resume.base_score
            log.pooled = [list(r) for r in resume.pooled]
            job.progress(f"resuming from round {resume.round} of {request.rounds}")
        else:
            log.mean, log.scale = pooled_moments([(_weight(st), st.mean, st.variance) for st in ok.values()])
            log.base_score = sum(_events(st) for st in ok.values()) / sum(_weight(st) for st in ok.values())
        size = len(names) if request.model == "xgboost" else initial_model(request, None).shape[0]
        config = ConfigRecord(
            {"job-id": request.job_id, "mean": log.mean, "scale": log.scale, "base-score": log.base_score}
        )
        start = initial_model(request, resume)
        remaining = request.rounds - log.offset
        if request.secure_aggregation and remaining > 0:  # secagg hook: every round's average is a SecAgg+ sum
            start, secure_log = secure_fedavg(
                grid,
                {s: node_of[s] for s in ok},
                start,
                rounds=remaining,
                config=config,
                max_weight=sum(_weight(st) for st in ok.values()),
                progress=job.progress,
            )
            log.pooled.extend(secure_log)
        elif remaining > 0:
            result = make_strategy(job, size, log).start(
                _AdmittedGrid(grid, [node_of[s] for s in ok]),  # type: ignore[arg-type]
                ArrayRecord(numpy_ndarrays=[start]),
                num_rounds=remaining,
                timeout=job.reply_timeout_s,
                train_config=config,
            )
            if result.arrays is not None:  # None: no round had a usable update; the start model stands
                (start,) = result.arrays.to_numpy_ndarrays()
        dropped = _dropped_out(log.pooled, 0)
        for site, first in dropped.items():
            job.progress(f"{site} dropped out at round {first}: the run went on with the others")
        is_trees = request.model == "xgboost"
        job.result.append(
            TrainRun(
                job_id=request.job_id,
                strategy=request.strategy,
                model=request.model,
                aggregation=request.aggregation,
                hidden=request.hidden if request.model == "mlp" else 0,
                rounds=request.rounds,
                sites=stats,
                trained_by=tuple(sorted(s for s in ok if log.pooled and s in log.pooled[-1])),
                rounds_by_site={s: sum(s in r for r in log.pooled) for s in ok},
                mean=tuple(log.mean),
                scale=tuple(log.scale),
                weights=() if is_trees else tuple(float(v) for v in start),
                trees=start.tobytes().decode("utf-8") if is_trees else "",
                feature_names=tuple(names),
                rounds_completed=len(log.pooled),
                resumed_from=resume.round if resume else 0,
                dropped_out=dropped,
                started=started,
                finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                secure_aggregation=request.secure_aggregation,
                privacy=None
                if request.dp is None
                else privacy_record(request.dp, len(log.pooled), request.local_steps),
            )
        )

    return app


#: The deployed training ClientApp (a vetted app: `dari.federation.flower.vetted_apps.ALLOWED_CLIENTAPPS`).
site_app = make_train_site_app()
