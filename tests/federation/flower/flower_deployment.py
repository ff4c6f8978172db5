"""A throw-away Flower deployment on loopback for tests: one SuperLink, one SuperNode per site, `flwr run`.

Every process is started with a tag in its environment; Flower starts its SuperExec, ServerApp and ClientApp
processes detached (new sessions), so `stop` finds them by that tag rather than by process group or parent.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from flower_fixtures import MIN_CELL

#: The Flower binaries live beside the interpreter of the virtual environment.
BIN = Path(sys.executable).parent
BINARIES = (
    "flower-superlink",
    "flower-supernode",
    "flwr",
    "flower-superexec",
    "flwr-serverapp",
    "flwr-clientapp",
    "dari",
)
CONNECTION = "dari-test"
TAG_VAR = "DARI_FLOWER_TEST_TAG"


def missing_binaries() -> list[str]:
    """The Flower binaries that are not installed beside this interpreter."""
    return [b for b in BINARIES if not (BIN / b).exists()]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def app_pyproject(job_file: Path, model_file: Path, result_file: Path) -> str:
    """The `pyproject.toml` of a Flower app that runs dari's hub and site apps on one job."""
    return f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "dari-validation-job"
version = "1.0.0"
dependencies = []

[tool.flwr.app]
publisher = "dari"

[tool.flwr.app.components]
serverapp = "dari.federation.flower.hub_app:app"
clientapp = "dari.federation.flower.site_app:app"

[tool.flwr.app.config]
job-file = {json.dumps(str(job_file))}
model-file = {json.dumps(str(model_file))}
result-file = {json.dumps(str(result_file))}
"""


class LoopbackFederation:
    """A SuperLink and SuperNodes on 127.0.0.1, each a process whose output goes to a log file in `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "flwr-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.tag = uuid.uuid4().hex
        self.env = {
            **os.environ,
            "FLWR_HOME": str(self.home),
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            TAG_VAR: self.tag,
        }
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.runtime_ports: dict[str, int] = {}  # site id → its SuperNode's Runtime API port
        self.logs: list[Path] = []

    def _start(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        log = self.root / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(BIN / args[0]), *args[1:]],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.root,
                start_new_session=True,
            )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def start_superlink(self, wait_s: float = 120.0) -> None:
        """The SuperLink (Fleet, Control and Runtime HTTP APIs on one port), and the CLI connection to it."""
        self._start(
            "superlink",
            [
                "flower-superlink",
                "--insecure",
                "--disable-runtime-dependency-installation",
                "--database",
                str(self.root / "superlink.db"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
        )
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n'
            f'[superlink.{CONNECTION}]\naddress = "127.0.0.1:{self.port}"\ninsecure = true\n',
            encoding="utf-8",
        )
        self._wait_listening(self.port, wait_s, "SuperLink")

    def start_supernode(
        self, site_id: str, folder: Path, wait_s: float = 120.0, *, vetted: bool = False, fab_hashes: Path | None = None
    ) -> None:
        """A SuperNode for one synthetic site (grants: synthetic folders only).

        `vetted`: the production setup of docs/federation.md, `--isolation process` with dari's own executor
        (`dari site clientapp-exec`, holding the SuperExec secret) instead of Flower's, which runs any app;
        `fab_hashes`: the executor's release list.
        """
        port = free_port()
        # The test sites are small: they run with the tests' low disclosure floor (a hospital keeps the default 10).
        node_config = f"site-id='{site_id}' site-folder='{folder}' no-governance=true min-cell={MIN_CELL}"
        isolation: list[str] = []
        if vetted:
            secret = self.root / f"superexec-{site_id}.secret"
            secret.write_bytes(uuid.uuid4().bytes)
            secret.chmod(0o600)
            isolation = ["--isolation", "process", "--superexec-auth-secret-file", str(secret)]
        self._start(
            f"supernode-{site_id}",
            [
                "flower-supernode",
                "--insecure",
                "--superlink",
                f"127.0.0.1:{self.port}",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--node-config",
                node_config,
                *isolation,
            ],
        )
        self._wait_listening(port, wait_s, f"SuperNode {site_id}")
        self.runtime_ports[site_id] = port
        if vetted:
            self._start(
                f"vetted-exec-{site_id}",
                [
                    "dari",
                    "site",
                    "clientapp-exec",
                    "--insecure",
                    "--runtime-api-address",
                    f"127.0.0.1:{port}",
                    "--site-folder",
                    str(folder),
                    "--superexec-auth-secret-file",
                    str(secret),
                    "--poll-interval",
                    "0.3",
                    *(["--fab-hashes", str(fab_hashes)] if fab_hashes else []),
                ],
            )

    def _wait_listening(self, port: int, wait_s: float, what: str) -> None:
        deadline = time.monotonic() + wait_s
        while not _listening(port):
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not listening on 127.0.0.1:{port} after {wait_s:.0f} s\n{self.log_tail()}")
            time.sleep(0.5)

    def check_alive(self) -> None:
        """Raise when a started process has exited."""
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"{log.stem} exited with {proc.returncode}\n{self.log_tail()}")

    def flwr_run(self, app_dir: Path, timeout_s: float = 180.0, run_config: str | None = None) -> dict[str, object]:
        """Submit the app with `flwr run` (`run_config`: its `--run-config` overrides); its JSON answer (run id …)."""
        overrides = ["--run-config", run_config] if run_config else []
        done = subprocess.run(
            [str(BIN / "flwr"), "run", str(app_dir), CONNECTION, "--format", "json", *overrides],
            capture_output=True,
            env=self.env,
            cwd=self.root,
            timeout=timeout_s,
            check=False,
        )
        text = done.stdout.decode(errors="replace")
        if done.returncode != 0 or '"success": true' not in text:
            raise RuntimeError(f"flwr run failed ({done.returncode}): {text}\n{done.stderr.decode(errors='replace')}")
        answer: dict[str, object] = json.loads(text[text.index("{") :])
        return answer

    def log_tail(self, chars: int = 3000) -> str:
        """The end of every process log, for failure messages."""
        parts = []
        for log in self.logs:
            text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
            parts.append(f"--- {log.name} ---\n{text[-chars:]}")
        return "\n".join(parts)

    def tagged_pids(self) -> list[int]:
        """Every live process carrying this federation's tag (those started here and all their descendants)."""
        needle = f"{TAG_VAR}={self.tag}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours
                continue
        return pids

    def stop(self, grace_s: float = 10.0) -> list[int]:
        """Terminate every process of this federation (SIGTERM, then SIGKILL); the pids that survived."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.tagged_pids():
            time.sleep(0.2)
        for _ in range(5):  # a process may still spawn a child while we kill it: sweep until none is left
            pids = self.tagged_pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        return self.tagged_pids()
