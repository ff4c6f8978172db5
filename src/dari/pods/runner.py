"""Run a pod bundle at a site (or locally on dummy data) in the sandbox, and hold its outputs.

`run_bundle` checks the bundle (its hash against the grant's), the environment (R, packages, Python), builds
the run beside its final place (`SITE/pods/runs/.<run_id>.tmp/`: code, view, outputs, logs), runs the entry
point in the sandbox, classifies how it ended, keeps the outputs as plain read-only files (links and devices
removed; everything removed when over the output cap), drops the per-run copy of the data view (its hash and
description stay in the record), writes `run.json` and renames the folder to `SITE/pods/runs/<run_id>/` in
one step. Anything going wrong before that leaves no run folder. Outputs are held: only part 2's output
checking and two-person release move them off the site.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
from pathlib import Path

from dari.atomic import atomic_path
from dari.errors import InputError
from dari.federation.site_audit import SiteAuditLog
from dari.pods.bundle import Bundle, load_bundle, materialise, remove_tree
from dari.pods.environment import check_needs, current_environment, entry_command
from dari.pods.grant import PodGrant, require_grant
from dari.pods.models import RUN_FILE, OutputFile, PodLimits, PodRun, RunStatus, StopReason, ViewRecord
from dari.pods.sandbox import MATPLOTLIBRC, Mounts, SandboxResult, run_sandboxed
from dari.pods.view import VIEW_FILE, build_view, folder_sha256

RUNS = Path("pods") / "runs"
DUMMY_VIEW = "view"
TAIL_BYTES = 64 * 1024
MAX_LISTED = 100
_MEMORY = re.compile(rb"MemoryError|Cannot allocate memory|std::bad_alloc|out of memory", re.IGNORECASE)
# Python ignores SIGXFSZ: a write past RLIMIT_FSIZE fails with EFBIG instead of killing the process.
_FILE_SIZE = re.compile(rb"File too large|\[Errno 27\]")
_PROCESSES = re.compile(
    rb"BlockingIOError: \[Errno 11\]|can't start new thread|fork: (retry: )?Resource temporarily unavailable"
    rb"|pthread_create|Resource temporarily unavailable",
)


def new_run_id(now: dt.datetime) -> str:
    """`pod-YYYYMMDDTHHMMSSZ-<8 hex>`: sortable by time, unique by its random tail."""
    return f"pod-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


def _tail(full: Path, tail: Path) -> bytes:
    """Keep the last TAIL_BYTES of a log (the pod may have written up to its file-size limit)."""
    with full.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - TAIL_BYTES))
        data = fh.read()
    tail.write_bytes(data)
    full.unlink()
    return data


def classify(result: SandboxResult, stderr_tail: bytes) -> StopReason | None:
    """Why the sandbox stopped the pod (None when it ended on its own)."""
    sig = result.signal
    if result.output_exceeded:
        return "output_size"
    if sig == signal.SIGXFSZ or _FILE_SIZE.search(stderr_tail):
        return "file_size"
    if sig == signal.SIGXCPU:
        return "cpu"
    if result.processes_at_limit and (result.timed_out or _PROCESSES.search(stderr_tail)):
        return "processes"
    if result.timed_out:
        return "wall_time"
    if _MEMORY.search(stderr_tail) or (sig == signal.SIGSEGV and b"alloc" in stderr_tail):
        return "memory"
    if _PROCESSES.search(stderr_tail):
        return "processes"
    return None


def _hold_outputs(outputs: Path, over_cap: bool) -> tuple[list[OutputFile], list[str]]:
    """Plain files only, read-only, owned by the runner; everything removed when the pod broke the output cap."""
    held: list[OutputFile] = []
    removed: list[str] = []
    uid, gid = os.geteuid(), os.getegid()
    for root, dirs, files in os.walk(outputs, followlinks=False):
        base = Path(root)
        os.chown(base, uid, gid, follow_symlinks=False)
        base.chmod(0o755)
        for name in [*files, *[d for d in dirs if (base / d).is_symlink()]]:
            path = base / name
            rel = path.relative_to(outputs).as_posix()
            st = path.lstat()
            if over_cap or not path.is_file() or path.is_symlink():
                path.unlink()
                removed.append(rel)
                continue
            os.chown(path, uid, gid, follow_symlinks=False)  # clears any setuid bit the pod set
            path.chmod(0o444)
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            held.append(OutputFile(path=rel, bytes=st.st_size, sha256=digest.hexdigest()))
    if over_cap:
        for child in sorted(outputs.iterdir()):
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    return sorted(held, key=lambda o: o.path), removed[:MAX_LISTED]


def _dummy_view(folder: Path, bundle: Bundle) -> tuple[Path, ViewRecord]:
    view = folder / DUMMY_VIEW
    meta = view / VIEW_FILE
    if not meta.is_file():
        raise InputError(f"not a `dari pod dummy` folder (no {DUMMY_VIEW}/{VIEW_FILE})", file=str(folder))
    info = json.loads(meta.read_text(encoding="utf-8"))
    if info.get("dummy") is not True:  # --local never reads a site's data, even a view left behind
        raise InputError(
            f"{DUMMY_VIEW}/{VIEW_FILE} does not mark dummy data: --local runs on dummy data only", file=str(folder)
        )
    missing = [t for t in bundle.manifest.needs.tables if t not in info["tables"]]
    if missing:
        raise InputError(f"the dummy data has no table {', '.join(missing)} (make it with --tables)", file=str(folder))
    record = ViewRecord(dummy=True, tables=info["tables"], rows=info["rows"], k=None, sha256=folder_sha256(view))
    return view, record


def run_bundle(
    site_folder: Path, bundle: Path, *, grant: PodGrant | None, limits: PodLimits | None = None, local: bool = False
) -> PodRun:
    """Run `bundle` on the site's pod view under `grant` (or on dummy data with `local`); outputs are held."""
    limits = limits or PodLimits()
    checked = load_bundle(bundle)
    require_grant(grant, checked.sha256, local=local, site_folder=site_folder)
    env = current_environment()
    check_needs(checked, env)
    started = dt.datetime.now(dt.UTC)
    run_id = new_run_id(started)
    runs = site_folder / RUNS
    staging = runs / f".{run_id}.tmp"
    audit = None if local else SiteAuditLog(site_folder)
    details: dict[str, object] = {"run": run_id, "bundle_sha256": checked.sha256}
    if grant is not None:
        details |= grant.admission.audit_details()
    try:
        staging.mkdir(parents=True)
        materialise(checked, staging / "code")
        if local:
            view, view_record = _dummy_view(site_folder, checked)
        else:
            assert grant is not None  # require_grant refused a site run without one
            view = staging / "view"
            view_record = build_view(site_folder, grant, checked.manifest.needs.tables, view)
        if checked.language == "r":  # Debian's R has no Parquet reader (no Arrow): R bundles read the view as CSV
            view = _csv_copy(view, staging / "view-csv")
        outputs, logs, config = staging / "outputs", staging / "logs", staging / "config"
        for folder in (outputs, logs, config):
            folder.mkdir()
        (config / "matplotlibrc").write_text(MATPLOTLIBRC, encoding="utf-8")
        if audit is not None:
            audit.record("pod.run.start", "allow", **details, tables=sorted(view_record.tables))
        result = run_sandboxed(
            entry_command(checked),
            Mounts(code=staging / "code", data=view, outputs=outputs, config=config),
            limits,
            stdout=logs / "stdout.full",
            stderr=logs / "stderr.full",
        )
        ended = dt.datetime.now(dt.UTC)
        _tail(logs / "stdout.full", logs / "stdout.txt")
        stderr_tail = _tail(logs / "stderr.full", logs / "stderr.txt")
        stop = classify(result, stderr_tail)
        held, removed = _hold_outputs(outputs, result.output_exceeded)
        if stop is None and any(o.bytes >= limits.file_size_mb * 1024 * 1024 for o in held):
            stop = "file_size"  # the pod caught EFBIG and carried on: its file still stopped at the limit
        status: RunStatus = "stopped" if stop else ("ok" if result.returncode == 0 else "failed")
        sig = result.signal
        run = PodRun(
            run_id=run_id,
            bundle_sha256=checked.sha256,
            bundle_name=checked.manifest.pod.name,
            entry=checked.manifest.pod.entry,
            local=local,
            job_id=grant.admission.job_id if grant else None,
            grant_id=grant.admission.grant_id if grant else None,
            requester=grant.admission.requester if grant else None,
            started_at=started,
            ended_at=ended,
            wall_s=round(result.wall_s, 3),
            status=status,
            exit_code=None if sig is not None else result.returncode,
            signal=signal.Signals(sig).name if sig is not None else None,
            stop_reason=stop,
            limits=limits,
            environment_sha256=env.sha256,
            sandbox=result.identity,
            view=view_record,
            outputs=held,
            outputs_bytes=sum(o.bytes for o in held),
            removed_outputs=removed,
        )
        if not local:
            remove_tree(view)  # the per-run copy of the data goes; its hash and description stay in run.json
        with atomic_path(staging / RUN_FILE) as tmp:
            tmp.write_text(run.model_dump_json(indent=2), encoding="utf-8")
        staging.replace(runs / run_id)
    except BaseException as exc:
        remove_tree(staging)
        if audit is not None:
            audit.record("pod.run.failed", "error", **details, reason=f"{type(exc).__name__}: {str(exc)[:200]}")
        raise
    if audit is not None:
        outcome = {"ok": "allow", "failed": "error", "stopped": "deny"}[status]
        audit.record(
            f"pod.run.{status}",
            outcome,
            **details,
            stop_reason=stop,
            exit_code=run.exit_code,
            signal=run.signal,
            outputs=len(held),
            outputs_bytes=run.outputs_bytes,
            removed_outputs=len(removed),
        )
    return run


def load_run(site_folder: Path, run_id: str) -> PodRun:
    """The record of a finished run (what part 2's output checking reads)."""
    if not re.fullmatch(r"pod-\d{8}T\d{6}Z-[0-9a-f]{8}", run_id):
        raise InputError(f"not a pod run id: {run_id[:80]!r}")
    path = site_folder / RUNS / run_id / RUN_FILE
    if not path.is_file():
        raise InputError("no such pod run", file=str(path))
    return PodRun.model_validate_json(path.read_text(encoding="utf-8"))


def _csv_copy(view: Path, out: Path) -> Path:
    """The view's tables as `<table>.csv` (header row, ISO dates, empty for NULL) beside its `_view.json`."""
    import duckdb

    out.mkdir()
    con = duckdb.connect()
    try:
        for table in sorted(view.glob("*.parquet")):
            source = table.as_posix().replace("'", "''")
            target = (out / f"{table.stem}.csv").as_posix().replace("'", "''")
            con.execute(f"COPY (SELECT * FROM read_parquet('{source}')) TO '{target}' (HEADER, DELIMITER ',')")
    finally:
        con.close()
    if (view / VIEW_FILE).is_file():
        (out / VIEW_FILE).write_bytes((view / VIEW_FILE).read_bytes())
    return out
