"""What `dari cds serve` starts: the model (a gated deployment, or ungated for development), its gate, and the app,
in one process or in several worker processes that each build the same app from one `ServeConfig`.

Workers share the service's SQLite file (audit, cards, feedback and the used JWT ids, so a replay is refused by
every worker); each keeps its own recent RiskAssessments in memory and asks the hub for its own gate answers.
Each worker listens on a socket of its own bound to the same port with SO_REUSEPORT, so that the kernel spreads
new connections evenly over the workers. (uvicorn's own `workers=` shares one socket, which the first process to
wake accepts: with keep-alive clients one worker was measured taking nine calls in ten.)
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from dari.care.cds_service import create_app
from dari.care.deployment_gate import DeploymentGate, DeploymentManifest, open_gate
from dari.care.feedback import FeedbackStore
from dari.care.inference_audit import InferenceLog
from dari.care.served_model import ServedModel
from dari.care.service_db import SqliteJtiStore
from dari.care.settings import CdsSettings
from dari.errors import DariError, InputError

log = logging.getLogger("dari.care.serving")
EARLY_END_S = 60.0  # a worker ending sooner after its start is taken as failing to start
MAX_EARLY_ENDS = 3


class ServeConfig(BaseModel):
    """Everything a serving process needs to build the service."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    settings: CdsSettings
    model: str | None = None  # ungated: 'reference' or a model folder
    deployment: Path | None = None  # gated: a `dari deploy` folder
    hub_db: str | None = None
    hub_url: str | None = None
    hub_token_file: Path | None = None
    gate_cache_s: float = Field(1.0, gt=0, le=60)
    gate_grace_s: float = Field(30.0, ge=0, le=3600)
    cdm: str | None = None  # the site CDM whose vocabulary resolves the spec's concept sets at start


@dataclass(frozen=True)
class Service:
    """The loaded model, its gate (None when ungated) and the deployment it serves."""

    model: ServedModel
    gate: DeploymentGate | None
    manifest: DeploymentManifest | None


def load_service(config: ServeConfig) -> Service:
    """Load and check the model; for a deployment, open its gate (not asked yet). Bad combinations are refused."""
    if config.deployment is None:
        if config.hub_db or config.hub_url or config.hub_token_file:
            raise InputError("--hub-db, --hub-url and --hub-token-file gate a --deployment; none was given")
        return Service(_with_site(ServedModel.load(config.model or "reference"), config), None, None)
    if config.model is not None:
        raise InputError("give --model (ungated) or --deployment (gated), not both")
    manifest = DeploymentManifest.load(config.deployment)
    served = ServedModel.load(config.deployment)
    cdm = config.cdm or _deployment_cdm(config.deployment)
    served = served.with_site_vocabulary(cdm) if cdm else served
    if served.card.model_sha256 != manifest.model_sha256:
        raise InputError(
            "the deployment's model_sha256 is not the model's",
            file=str(config.deployment / "deployment.json"),
            column="model_sha256",
        )
    token = config.hub_token_file.read_text(encoding="utf-8").strip() if config.hub_token_file else None
    gate = open_gate(
        manifest,
        hub_db=config.hub_db,
        hub_url=config.hub_url,
        hub_token=token,
        cache_s=config.gate_cache_s,
        grace_s=config.gate_grace_s,
    )
    return Service(served, gate, manifest)


def _with_site(served: ServedModel, config: ServeConfig) -> ServedModel:
    """The model with the site CDM's concept sets (--cdm), else as shipped."""
    return served.with_site_vocabulary(config.cdm) if config.cdm else served


def _deployment_cdm(folder: Path) -> str | None:
    """The site CDM a deployment names (`"cdm"` in deployment.json: a path relative to the folder, or a URL)."""
    try:
        value = json.loads((folder / "deployment.json").read_text(encoding="utf-8")).get("cdm")
    except (OSError, ValueError, AttributeError):
        return None  # DeploymentManifest.load has already refused an unreadable manifest, naming it
    if not isinstance(value, str) or not value:
        return None
    return value if "://" in value else str((folder / value).resolve())


def serving_app(config: ServeConfig, service: Service) -> FastAPI:
    """The app, its gate asking the hub in the background, and the collector told that what is loaded stays."""
    application = create_app(config.settings, service.model, gate=service.gate)
    if service.gate is not None:
        service.gate.check()
        service.gate.start()
    # Everything loaded so far lives as long as the process: keep the collector from walking it on every full
    # collection, which otherwise shows as multi-millisecond pauses in the latency tail.
    gc.freeze()
    return application


def prepare_database(settings: CdsSettings) -> None:
    """Create the service's tables and audit key once, before worker processes start: workers that all found an
    empty file would race to create them, and the losers would die at start-up."""
    FeedbackStore(settings.database).close()
    InferenceLog(settings.database).close()
    SqliteJtiStore(settings.database).close()


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port that other processes may bind as well (SO_REUSEPORT: Linux spreads the
    new connections over them)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise InputError("--workers above 1 needs SO_REUSEPORT (Linux); serve with one process here")
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    return sock


def _worker(config_json: str, host: str, port: int) -> None:
    """One worker process: its own socket on the shared port, the app, uvicorn (which stops on SIGTERM)."""
    import uvicorn

    config = ServeConfig.model_validate_json(config_json)
    application = serving_app(config, load_service(config))
    sock = listening_socket(host, port)  # only once ready: the kernel sends connections to listening sockets
    uvicorn.Server(uvicorn.Config(application, log_level="warning", access_log=False)).run(sockets=[sock])


def serve_workers(config: ServeConfig, host: str, port: int, workers: int) -> None:
    """Run `workers` processes serving the same app on host:port until SIGINT or SIGTERM; a worker that ends
    otherwise is started again."""
    prepare_database(config.settings)
    listening_socket(host, port).close()  # the port is free and SO_REUSEPORT works, before anything is spawned
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked threads or open connections
    payload = config.model_dump_json()
    stopping = False

    started: dict[int, float] = {}  # worker slot → when its process started

    def start(slot: int) -> BaseProcess:
        process = context.Process(target=_worker, args=(payload, host, port), name="dari-cds-worker")
        process.start()
        started[slot] = time.monotonic()
        return process

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)  # uvicorn finishes the requests under way, then exits

    processes = [start(slot) for slot in range(workers)]
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    early_ends = 0
    try:
        while not stopping:
            for slot, process in enumerate(processes):
                process.join(timeout=0.5)
                if stopping or process.exitcode is None:
                    continue
                # A worker that dies while starting will die again: give up rather than loop for ever.
                early_ends = early_ends + 1 if time.monotonic() - started[slot] < EARLY_END_S else 0
                if early_ends >= MAX_EARLY_ENDS:
                    stop(signal.SIGTERM, None)
                    raise DariError(f"CDS workers keep ending at start-up (last exit {process.exitcode}); see above")
                log.warning("CDS worker %s ended (exit %s); starting another", process.pid, process.exitcode)
                processes[slot] = start(slot)
        for process in processes:
            process.join(timeout=30)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for process in processes:
            if process.is_alive():
                process.kill()
