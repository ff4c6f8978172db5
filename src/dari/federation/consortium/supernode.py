"""A site's two processes: `flower-supernode --isolation process` and the long-running vetted ClientApp executor.

The SuperNode dials out to the SuperLink (TLS, authenticated with the site's key) and serves its Runtime API on
loopback, itself over TLS; dari's executor (`dari site clientapp-exec`, `vetted_apps.VettedExecutor`) is the
long-running ClientApp beside it: one warm process that runs every message of every run with the installed dari
site apps. `python -m dari.federation.consortium.supernode ARGS` is `flower-supernode ARGS` with its idle waits
capped at `DARI_SUPERNODE_POLL_S` seconds (flwr 1.41 waits a fixed 3 s after an empty pull and 0.5 s between
looks for a reply; on loopback the extra polls cost nothing, and a round no longer waits for them).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

#: The local consortium's cap on the SuperNode's idle waits (a hospital's SuperNode keeps Flower's 3 s).
DEFAULT_POLL_S = 0.1


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
    auth_key: Path  # the SuperNode's authentication private key (OpenSSH, P-384)
    exec_secret: Path  # the SuperExec secret: only this site's executor takes its tasks
    node_config: str


def supernode_command(node: SiteNode, poll_s: float | None = DEFAULT_POLL_S) -> list[str]:
    """The SuperNode's command line (`poll_s` None: the stock `flower-supernode`)."""
    head = [sys.executable, "-m", "dari.federation.consortium.supernode"] if poll_s else ["flower-supernode"]
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


def executor_command(node: SiteNode, poll_s: float = 0.05) -> list[str]:
    """The long-running vetted ClientApp executor's command line (`dari site clientapp-exec`)."""
    return [
        str(Path(sys.executable).parent / "dari"),
        "site",
        "clientapp-exec",
        "--runtime-api-address",
        f"127.0.0.1:{node.runtime_port}",
        "--root-certificates",
        str(node.ca_cert),
        "--site-folder",
        str(node.folder),
        "--superexec-auth-secret-file",
        str(node.exec_secret),
        "--poll-interval",
        str(poll_s),
    ]


def _capped_time(cap_s: float) -> SimpleNamespace:
    """The `time` module with `sleep` capped at `cap_s`."""
    shim = SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("__")})
    shim.sleep = lambda seconds: time.sleep(min(float(seconds), cap_s))
    return shim


def main() -> None:
    """`flower-supernode` with its idle waits capped (see the module docstring)."""
    from flwr.supernode import start_client_internal
    from flwr.supernode.cli import flower_supernode

    cap = float(os.environ.get("DARI_SUPERNODE_POLL_S", DEFAULT_POLL_S))
    start_client_internal.time = _capped_time(cap)  # type: ignore[attr-defined]
    sys.argv[0] = "flower-supernode"
    flower_supernode()


if __name__ == "__main__":
    main()
