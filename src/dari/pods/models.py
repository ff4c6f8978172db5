"""The records of a pod run: its limits, the view it saw, its held outputs, and `run.json` (`PodRun`)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dari.privacy.risk.models import Loss

StopReason = Literal["wall_time", "cpu", "memory", "processes", "file_size", "output_size"]
RunStatus = Literal["ok", "failed", "stopped"]
RUN_FILE = "run.json"


class PodLimits(BaseModel):
    """What one run may use; enforced by the sandbox (prlimit, tmpfs size, the runner's clock and output cap)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    wall_s: float = Field(default=3600.0, gt=0, le=7 * 24 * 3600, description="wall-clock seconds before the kill")
    cpu_s: int = Field(default=3600, ge=1, description="CPU seconds (RLIMIT_CPU: SIGXCPU)")
    memory_mb: int = Field(default=8192, ge=64, description="address space per process (RLIMIT_AS)")
    processes: int = Field(default=64, ge=2, le=4096, description="processes and threads (RLIMIT_NPROC)")
    file_size_mb: int = Field(default=256, ge=1, description="largest file a process may write (RLIMIT_FSIZE)")
    output_mb: int = Field(default=512, ge=1, description="all held outputs together")
    output_files: int = Field(default=1000, ge=1, le=100_000, description="files and folders in the outputs")
    work_mb: int = Field(default=1024, ge=16, description="the private tmpfs for work (/pod/work, /tmp)")
    open_files: int = Field(default=256, ge=16, le=65536, description="open files per process (RLIMIT_NOFILE)")


class OutputFile(BaseModel):
    """One held output (path relative to the run's outputs/)."""

    model_config = ConfigDict(frozen=True)
    path: str
    bytes: int
    sha256: str


class ViewRecord(BaseModel):
    """What the pod saw: tables, columns, rows, and the k-anonymity applied (information loss recorded)."""

    model_config = ConfigDict(frozen=True)
    dummy: bool = Field(description="True for a local run on `dari pod dummy` data")
    tables: dict[str, list[str]]
    rows: dict[str, int]
    k: int | None = Field(description="the DRB's re-identification target the view was held to (None: dummy)")
    k_achieved: int | None = None
    quasi_identifiers: dict[str, int] = Field(default_factory=dict, description="column → generalisation level")
    persons_in: int | None = None
    persons_suppressed: int | None = None
    loss: Loss | None = None
    free_text_columns: list[str] = Field(default_factory=list, description="table.column de-identified (high-recall)")
    sha256: str = Field(description="SHA-256 over the view's files, as the bundle hash")


class PodRun(BaseModel):
    """`SITE/pods/runs/<run_id>/run.json`: written atomically when the run ends; outputs are held, never released."""

    model_config = ConfigDict(frozen=True)
    run_id: str
    bundle_sha256: str
    bundle_name: str
    entry: str
    local: bool
    job_id: str | None
    grant_id: str | None
    requester: str | None
    started_at: dt.datetime
    ended_at: dt.datetime
    wall_s: float
    status: RunStatus
    exit_code: int | None = Field(description="the entry point's exit status (None when killed by a signal)")
    signal: str | None = None
    stop_reason: StopReason | None = None
    limits: PodLimits
    environment_sha256: str
    sandbox: str = Field(description="how it was isolated, e.g. 'bwrap 0.8.0 as uid 231072'")
    view: ViewRecord
    outputs: list[OutputFile]
    outputs_bytes: int
    removed_outputs: list[str] = Field(default_factory=list, description="links, devices, or all over the cap")
    stdout_tail: str = "logs/stdout.txt"
    stderr_tail: str = "logs/stderr.txt"
