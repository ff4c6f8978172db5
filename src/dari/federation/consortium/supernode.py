"""A site's two processes: `flower-supernode --isolation process` and the long-running vetted ClientApp executor.

The SuperNode dials out to the SuperLink (TLS, authenticated with the site's key) and serves its Runtime API on
loopback, itself over TLS; dari's executor (`site_exec`: the `VettedExecutor` of `dari site clientapp-exec`) is
the long-running ClientApp beside it: one warm process that runs every message of every run with the installed dari
site apps. `python -m dari.federation.consortium.supernode ARGS` is `flower-supernode ARGS` with its waits paced
(`pacing.Pacer`): flwr 1.41 waits a fixed 3 s after an empty pull and 0.5 s between looks for a reply, so every
round of a job waited seconds for nothing; paced, it polls again 0.02 s after work and backs off to
`DARI_SUPERNODE_IDLE_POLL_S` (0.5) seconds when idle.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from dari.federation.consortium.pacing import Pacer

#: The local consortium's SuperNode polls the SuperLink this often when idle (a hospital's keeps flwr's 3 s).
DEFAULT_IDLE_POLL_S = 0.5


@dataclass(frozen=True)
class SiteNode:
    """Everything one site's processes are started with (paths only: no key material)."""

    site_id: str
    folder: Path
    superlink: str  # host:port of the SuperLink's Fleet API
    runtime_port: int
    ca_cert: Path
    runtime_cert: Path  # TLS of the SuperNode's Runtime API (loopback)
    runtime_key: Path
    auth_key: Path  # the SuperNode's authentication private key (OpenSSH, P-256)
    exec_secret: Path  # the SuperExec secret: only this site's executor takes its tasks
    node_config: str


def supernode_command(node: SiteNode, paced: bool = True) -> list[str]:
    """The SuperNode's command line (`paced` False: the stock `flower-supernode`, polling every 3 s)."""
    stock = str(Path(sys.executable).parent / "flower-supernode")
    head = [sys.executable, "-m", "dari.federation.consortium.supernode"] if paced else [stock]
    return [
        *head,
        "--superlink",
        node.superlink,
        "--root-certificates",
        str(node.ca_cert),
        "--auth-supernode-private-key",
        str(node.auth_key),
        "--isolation",
        "process",
        "--host",
        "127.0.0.1",
        "--port",
        str(node.runtime_port),
        "--ssl-certfile",
        str(node.runtime_cert),
        "--ssl-keyfile",
        str(node.runtime_key),
        "--ssl-ca-certfile",
        str(node.ca_cert),
        "--superexec-auth-secret-file",
        str(node.exec_secret),
        "--node-config",
        node.node_config,
    ]


def executor_command(node: SiteNode) -> list[str]:
    """The long-running vetted ClientApp executor's command line (`site_exec`: `dari site clientapp-exec`, timed)."""
    return [
        sys.executable,
        "-m",
        "dari.federation.consortium.site_exec",
        "--runtime-api-address",
        f"127.0.0.1:{node.runtime_port}",
        "--root-certificates",
        str(node.ca_cert),
        "--site-folder",
        str(node.folder),
        "--superexec-auth-secret-file",
        str(node.exec_secret),
    ]


def _paced_time(pacer: Pacer) -> SimpleNamespace:
    """The `time` module with `sleep` paced. flwr's SuperNode sleeps 3 s after an empty pull and 0.5 s between
    looks for a reply; the switch from one to the other is a message pulled (or a reply pushed): work, so the
    pacer polls soon again, then backs off."""
    shim = SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("__")})
    last = {"reply_wait": False}

    def sleep(seconds: float) -> None:
        reply_wait = float(seconds) < 1.0
        if reply_wait != last["reply_wait"]:
            pacer.busy()
            last["reply_wait"] = reply_wait
        pacer.wait(at_most=float(seconds))

    shim.sleep = sleep
    return shim


def main() -> None:
    """`flower-supernode` with its idle waits capped (see the module docstring)."""
    from flwr.supernode import start_client_internal
    from flwr.supernode.cli import flower_supernode

    idle = float(os.environ.get("DARI_SUPERNODE_IDLE_POLL_S", DEFAULT_IDLE_POLL_S))
    vars(start_client_internal)["time"] = _paced_time(Pacer(idle_s=idle))  # the module's only use of `time`: sleep
    sys.argv[0] = "flower-supernode"
    flower_supernode()


if __name__ == "__main__":
    main()
