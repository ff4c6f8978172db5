"""The local consortium: the deployment engine on one machine, kept up between jobs (`dari consortium up/down`).

One SuperLink with its long-running ServerApp executor, and per site folder one SuperNode with its long-running
vetted ClientApp executor, all on 127.0.0.1, TLS on every link with the project CA (`certs`), every SuperNode
authenticated by its own key. The run folder holds the state (`state.json`: pids, ports, certificate and key
*paths*), the certificates, the SuperLink's database, the process logs and each job's files. Jobs submit to it with
`submit` (the Control API, as `flwr run` does) and read the result file the hub app writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from dari.atomic import atomic_path
from dari.errors import InputError
from dari.federation.consortium.certs import create_ca, create_node_key, issue_server_cert
from dari.federation.consortium.superlink import (
    ConsortiumError,
    HubLink,
    hub_executor_command,
    node_status,
    register_node,
    run_status,
    start_run,
    superlink_command,
)
from dari.federation.consortium.supernode import SiteNode, executor_command, supernode_command

ENV_DIR = "DARI_CONSORTIUM"
STATE = "state.json"
OFFLINE_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}

#: The job apps the consortium runs: dari's deployed hub and site apps; each job's files come as run-config
#: overrides, so the FAB (and its hash) is the same for every job of a kind.
JOB_APPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "validation": (
        "dari.federation.flower.hub_app:app",
        "dari.federation.flower.site_app:app",
        ("job-file", "model-file", "result-file"),
    ),
    "query": (
        "dari.federation.flower.query_apps:hub_app",
        "dari.federation.flower.query_apps:site_app",
        ("request-file", "result-file"),
    ),
    "training": (
        "dari.federation.consortium.train_deployed:hub_app",
        "dari.federation.flower.train_apps:site_app",
        ("request-file", "result-file"),
    ),
}


class ProcessInfo(BaseModel):
    """One process of the consortium: what it is, its pid and its log."""

    name: str
    pid: int
    log: str


class SiteInfo(BaseModel):
    """One site of the consortium."""

    site_id: str
    folder: str
    runtime_port: int
    public_key: str  # the registered SuperNode key (public half); the private key's path is beside it
    node_id: int


class ConsortiumState(BaseModel):
    """What `state.json` holds: enough to find, use and stop the consortium; never key material."""

    run_dir: str
    address: str
    ca_cert: str
    governance: str  # "none" (synthetic folders) or the hub store whose key the sites trust
    started_at: str
    sites: list[SiteInfo]
    processes: list[ProcessInfo]

    def folders(self) -> set[str]:
        """The consortium's site folders, resolved."""
        return {s.folder for s in self.sites}


def default_dir() -> Path:
    """The run folder: `$DARI_CONSORTIUM`, else `~/.dari/consortium`."""
    return Path(os.environ.get(ENV_DIR) or Path.home() / ".dari" / "consortium")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie child of ours is not alive
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def _env(run_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        **OFFLINE_ENV,
        "FLWR_HOME": str(run_dir / "flwr-home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _secret(path: Path) -> Path:
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    return path


def _write_app(folder: Path, kind: str) -> None:
    serverapp, clientapp, keys = JOB_APPS[kind]
    config = "\n".join(f'{k} = ""' for k in keys)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "dari-{kind}-job"
version = "1.0.0"
dependencies = []

[tool.flwr.app]
publisher = "dari"

[tool.flwr.app.components]
serverapp = "{serverapp}"
clientapp = "{clientapp}"

[tool.flwr.app.config]
{config}
""",
        encoding="utf-8",
    )


def _node_config(site_id: str, folder: Path, hub_key: Path | None, min_cell: int | None) -> str:
    for text in (site_id, str(folder)):
        if "'" in text or '"' in text:
            raise InputError("a site folder for the consortium may not contain quotes", file=str(folder))
    governance = f"hub-public-key='{hub_key}'" if hub_key else "no-governance=true"
    floor = f" min-cell={min_cell}" if min_cell is not None else ""  # else the site's default floor (10)
    return f"site-id='{site_id}' site-folder='{folder}' {governance}{floor}"


class _Starter:
    """Starts processes with their logs in the run folder, and stops them all if the start fails."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self.env = run_dir, _env(run_dir)
        self.started: list[ProcessInfo] = []

    def start(self, name: str, command: Sequence[str]) -> subprocess.Popen[bytes]:
        log = self.run_dir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 -- our own command lines: binaries beside this interpreter
                list(command),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.run_dir,
                start_new_session=True,
            )
        self.started.append(ProcessInfo(name=name, pid=proc.pid, log=str(log)))
        return proc

    def wait(self, what: str, ready: object, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while not ready():  # type: ignore[operator]
            for p in self.started:
                if not _alive(p.pid):
                    raise ConsortiumError(f"{p.name} exited while starting; see {p.log}")
            if time.monotonic() > deadline:
                raise ConsortiumError(f"{what} not ready after {wait_s:.0f} s; see the logs in {self.run_dir / 'logs'}")
            time.sleep(0.2)


def read_state(run_dir: Path | None = None) -> ConsortiumState | None:
    """The consortium's recorded state, or None when none was brought up there."""
    path = (run_dir or default_dir()) / STATE
    if not path.exists():
        return None
    return ConsortiumState.model_validate_json(path.read_text(encoding="utf-8"))


def is_up(state: ConsortiumState) -> bool:
    """Every process of the consortium is alive and the SuperLink listens."""
    return all(_alive(p.pid) for p in state.processes) and _listening(int(state.address.rsplit(":", 1)[1]))


def up(
    sites: Sequence[Path],
    run_dir: Path | None = None,
    hub_db: Path | None = None,
    *,
    min_cell: int | None = None,
    wait_s: float = 120.0,
) -> ConsortiumState:
    """Bring the local consortium up for these site folders; refused if one is already up in `run_dir`."""
    from dari.federation.flower.grants import is_synthetic_site
    from dari.federation.flower.simulation import site_ids

    run_dir = (run_dir or default_dir()).resolve()
    old = read_state(run_dir)
    if old is not None and is_up(old):
        raise InputError("a local consortium is already up there: `dari consortium down` first", file=str(run_dir))
    if old is not None:
        stop(old)  # what is left of a crashed one
    if not sites:
        raise InputError("give at least one site folder (--sites)")
    folders = [Path(s).resolve() for s in sites]
    for f in folders:
        if not (f / "cdm.duckdb").exists():
            raise InputError("not a site folder (no cdm.duckdb)", file=str(f))
    hub_key = None
    if hub_db is None:
        real = [str(f) for f in folders if not is_synthetic_site(f)]
        if real:
            raise InputError(f"without --hub-db the consortium runs synthetic site folders only: {', '.join(real)}")
    ids = site_ids(folders)
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in (STATE, "superlink.db"):
        (run_dir / stale).unlink(missing_ok=True)
    certs, keys = run_dir / "certs", run_dir / "keys"
    if not (certs / "ca.key").exists():
        shutil.rmtree(certs, ignore_errors=True)
        create_ca(certs)
    ca_cert, ca_key = certs / "ca.crt", certs / "ca.key"
    server = issue_server_cert(certs, "superlink", ["127.0.0.1", "localhost"], ca_cert, ca_key)
    runtime = issue_server_cert(certs, "runtime", ["127.0.0.1", "localhost"], ca_cert, ca_key)
    if hub_db is not None:
        from dari.federation.ticket import hub_public_pem

        hub_key = run_dir / "hub.signing.pub"
        with atomic_path(hub_key) as tmp:
            tmp.write_text(hub_public_pem(hub_db), encoding="ascii")
    for kind in JOB_APPS:
        _write_app(run_dir / "apps" / kind, kind)
    link = HubLink(
        port=_free_port(),
        database=run_dir / "superlink.db",
        ca_cert=ca_cert,
        server_cert=server.cert,
        server_key=server.key,
        exec_secret=_secret(keys / "hub.superexec.secret"),
    )
    starter = _Starter(run_dir)
    try:
        starter.start("superlink", superlink_command(link))
        starter.wait("the SuperLink", lambda: _listening(link.port), wait_s)
        starter.start("hub-executor", hub_executor_command(link))
        infos: list[SiteInfo] = []
        for site_id, folder in zip(ids, folders, strict=True):
            private = keys / site_id
            if not private.exists():
                create_node_key(keys, site_id)
            node_id = register_node(link.address, ca_cert, keys / f"{site_id}.pub", site_id)
            node = SiteNode(
                site_id=site_id,
                folder=folder,
                superlink=link.address,
                runtime_port=_free_port(),
                ca_cert=ca_cert,
                runtime_cert=runtime.cert,
                runtime_key=runtime.key,
                auth_key=private,
                exec_secret=_secret(keys / f"{site_id}.superexec.secret"),
                node_config=_node_config(site_id, folder, hub_key, min_cell),
            )
            starter.start(f"supernode-{site_id}", supernode_command(node))
            starter.start(f"executor-{site_id}", executor_command(node))
            infos.append(
                SiteInfo(
                    site_id=site_id,
                    folder=str(folder),
                    runtime_port=node.runtime_port,
                    public_key=str(keys / f"{site_id}.pub"),
                    node_id=node_id,
                )
            )
        starter.wait(
            "every SuperNode online",
            lambda: all(v == "online" for v in node_status(link.address, ca_cert).values()),
            wait_s,
        )
    except BaseException:
        _stop_processes(starter.started)
        raise
    state = ConsortiumState(
        run_dir=str(run_dir),
        address=link.address,
        ca_cert=str(ca_cert),
        governance="none" if hub_db is None else str(Path(hub_db).resolve()),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        sites=infos,
        processes=starter.started,
    )
    with atomic_path(run_dir / STATE) as tmp:
        tmp.write_text(state.model_dump_json(indent=2), encoding="utf-8")
    return state


def _stop_processes(processes: Sequence[ProcessInfo], grace_s: float = 10.0) -> list[int]:
    for p in reversed(processes):  # executors and nodes first, the SuperLink last
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p.pid) for p in processes):
        time.sleep(0.1)
    for p in processes:
        if _alive(p.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):  # reap those that are our own children
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    time.sleep(0.2)
    return [p.pid for p in processes if _alive(p.pid)]


def stop(state: ConsortiumState) -> list[int]:
    """Stop every process of the consortium and forget its state; the pids that survived (none, normally)."""
    survivors = _stop_processes(state.processes)
    (Path(state.run_dir) / STATE).unlink(missing_ok=True)
    return survivors


def status(state: ConsortiumState) -> dict[str, object]:
    """The consortium as `dari consortium status` shows it: processes, sites, certificate paths (no keys)."""
    nodes: dict[str, str] = {}
    with contextlib.suppress(Exception):  # a SuperLink that is down answers nothing: the processes say why
        nodes = node_status(state.address, Path(state.ca_cert))
    return {
        "up": is_up(state),
        "run_dir": state.run_dir,
        "superlink": state.address,
        "ca_cert": state.ca_cert,
        "governance": state.governance,
        "started_at": state.started_at,
        "sites": [{**s.model_dump(), "status": nodes.get(s.site_id, "unknown")} for s in state.sites],
        "processes": [{**p.model_dump(), "alive": _alive(p.pid)} for p in state.processes],
    }


def submit(
    state: ConsortiumState, kind: str, files: Mapping[str, Path], result_file: Path, timeout_s: float = 600.0
) -> int:
    """Run a job of `kind` with these run-config files; waits until the hub app wrote `result_file`; the run id."""
    from flwr.cli.build import build_fab_from_disk

    fab = build_fab_from_disk(Path(state.run_dir) / "apps" / kind)
    config = {k: str(v) for k, v in files.items()} | {"result-file": str(result_file)}
    address, ca = state.address, Path(state.ca_cert)
    run_id = start_run(address, ca, fab, config)
    deadline, checked = time.monotonic() + timeout_s, time.monotonic()
    while not result_file.exists():
        time.sleep(0.02)
        if time.monotonic() - checked > 1.0:  # a failed run writes no result: ask the SuperLink now and then
            checked = time.monotonic()
            run_state, sub, details = run_status(address, ca, run_id)
            if run_state == "finished" and not result_file.exists():
                raise ConsortiumError(f"run {run_id} finished {sub} without a result: {details[:300]}")
        if time.monotonic() > deadline:
            raise ConsortiumError(f"run {run_id}: no result after {timeout_s:.0f} s")
    return run_id


def job_folder(state: ConsortiumState, job_id: str) -> Path:
    """A fresh folder for one job's files in the run folder."""
    folder = Path(state.run_dir) / "jobs" / job_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def describe(state: ConsortiumState) -> str:
    """One line naming the consortium (for the CLI's output)."""
    return f"local consortium at {state.address} ({len(state.sites)} sites, {json.dumps(state.governance)})"
