"""What `dari cds serve` starts: the model (a gated deployment, or ungated for development), its gate, and the app,
in one process or in several worker processes that each build the same app from one `ServeConfig`.

Workers share the service's SQLite file (audit, cards, feedback and the used JWT ids, so a replay is refused by
every worker); each keeps its own recent RiskAssessments in memory and asks the hub for its own gate answers.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from dari.care.cds_service import create_app
from dari.care.deployment_gate import DeploymentGate, DeploymentManifest, open_gate
from dari.care.served_model import ServedModel
from dari.care.settings import CdsSettings
from dari.errors import InputError

CONFIG_ENV = (
    "DARI_CDS_SERVE_CONFIG"  # the worker processes' ServeConfig, as JSON (no secret: the token stays in its file)
)


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
        return Service(ServedModel.load(config.model or "reference"), None, None)
    if config.model is not None:
        raise InputError("give --model (ungated) or --deployment (gated), not both")
    manifest = DeploymentManifest.load(config.deployment)
    served = ServedModel.load(config.deployment)
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


def app_from_environment() -> FastAPI:
    """A worker process's app (uvicorn factory), built from the ServeConfig the parent put in the environment."""
    config = ServeConfig.model_validate_json(os.environ[CONFIG_ENV])
    return serving_app(config, load_service(config))
