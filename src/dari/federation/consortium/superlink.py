"""The hub's two processes: `flower-superlink --isolation process` with TLS and SuperNode authentication, and the
long-running ServerApp executor (`hub_exec.HubExecutor`) beside it; and the Control API client jobs submit with.

The SuperLink serves its Fleet, Control and Runtime APIs over HTTPS on one port (flwr 1.41); SuperNodes dial out
to it, so a hospital opens no inbound port. With `--enable-supernode-auth` only SuperNodes whose public key was
registered through the Control API (`register_node`, what `flwr supernode register` does) are admitted.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dari.errors import DariError


class ConsortiumError(DariError):
    """The consortium's processes or its SuperLink refused or failed (not a site: those are in the run)."""


@dataclass(frozen=True)
class HubLink:
    """Everything the hub's processes are started with (paths only: no key material)."""

    port: int
    database: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    exec_secret: Path

    @property
    def address(self) -> str:
        """The SuperLink's address on loopback (Fleet, Control and Runtime APIs)."""
        return f"127.0.0.1:{self.port}"


def superlink_command(link: HubLink) -> list[str]:
    """The SuperLink's command line: TLS, node authentication, no ServerApp of its own, no dependency installs."""
    return [
        str(Path(sys.executable).parent / "flower-superlink"),
        "--ssl-ca-certfile",
        str(link.ca_cert),
        "--ssl-certfile",
        str(link.server_cert),
        "--ssl-keyfile",
        str(link.server_key),
        "--enable-supernode-auth",
        "--isolation",
        "process",
        "--superexec-auth-secret-file",
        str(link.exec_secret),
        "--disable-runtime-dependency-installation",
        "--database",
        str(link.database),
        "--host",
        "127.0.0.1",
        "--port",
        str(link.port),
    ]


def hub_executor_command(link: HubLink) -> list[str]:
    """The long-running ServerApp executor's command line."""
    return [
        sys.executable,
        "-m",
        "dari.federation.consortium.superlink",
        "--runtime-api-address",
        link.address,
        "--root-certificates",
        str(link.ca_cert),
        "--superexec-auth-secret-file",
        str(link.exec_secret),
    ]


def control_client(address: str, ca_cert: Path) -> Any:
    """flwr's Control API client for the SuperLink (what `flwr run` talks to), over TLS with the project CA."""
    from flwr.cli.cli_client_interceptor import CliClientHttpInterceptor
    from flwr.supercore.control import ControlHttpClient
    from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor

    return ControlHttpClient.from_server_address(
        server_address=address,
        insecure=False,
        root_certificates=ca_cert.read_bytes(),
        interceptors=[CliClientHttpInterceptor(), RuntimeVersionHttpInterceptor(component_name="flwr CLI")],
    )


def register_node(address: str, ca_cert: Path, public_key: Path, name: str) -> int:
    """Register a SuperNode's public key on the SuperLink (node authentication); its node id."""
    from flwr.cli.supernode.register import try_load_public_key
    from flwr.proto.control_pb2 import RegisterNodeRequest  # pylint: disable=E0611

    client = control_client(address, ca_cert)
    try:
        res = client.RegisterNode(RegisterNodeRequest(public_key=try_load_public_key(public_key), name=name))
    finally:
        client.close()
    if not res.node_id:
        raise ConsortiumError(f"the SuperLink did not register the SuperNode {name!r}")
    return int(res.node_id)


def start_run(address: str, ca_cert: Path, fab: bytes, run_config: Mapping[str, str]) -> int:
    """Submit a run (the FAB of a job app, its run-config overrides) through the Control API; its run id."""
    from flwr.common.serde import fab_to_proto, user_config_to_proto
    from flwr.proto.control_pb2 import StartRunRequest  # pylint: disable=E0611
    from flwr.supercore.fab import Fab

    fab_hash = hashlib.sha256(fab).hexdigest()
    request = StartRunRequest(
        fab=fab_to_proto(Fab(fab_hash, fab, {})), override_config=user_config_to_proto(dict(run_config))
    )
    client = control_client(address, ca_cert)
    try:
        res = client.StartRun(request)
    finally:
        client.close()
    if not res.HasField("run_id"):
        raise ConsortiumError("the SuperLink did not start the run")
    return int(res.run_id)


def run_status(address: str, ca_cert: Path, run_id: int) -> tuple[str, str, str]:
    """A run's (status, sub-status, details) as the SuperLink records it."""
    from flwr.proto.control_pb2 import ListRunsRequest  # pylint: disable=E0611

    client = control_client(address, ca_cert)
    try:
        res = client.ListRuns(ListRunsRequest(run_id=run_id))
    finally:
        client.close()
    run = res.run_dict[run_id]
    return str(run.status.status), str(run.status.sub_status), str(run.status.details)


def node_status(address: str, ca_cert: Path) -> dict[str, str]:
    """Each registered SuperNode's status on the SuperLink (`online` once it connected), keyed by its name."""
    from flwr.proto.control_pb2 import ListNodesRequest  # pylint: disable=E0611

    client = control_client(address, ca_cert)
    try:
        res = client.ListNodes(ListNodesRequest())
    finally:
        client.close()
    return {str(n.name): str(n.status) for n in res.nodes_info}


def main() -> None:
    """The hub's ServerApp executor (`python -m dari.federation.consortium.superlink`)."""
    parser = argparse.ArgumentParser(description="dari's long-running ServerApp executor beside a SuperLink")
    parser.add_argument("--runtime-api-address", required=True)
    parser.add_argument("--root-certificates", type=Path)
    parser.add_argument("--superexec-auth-secret-file", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("dari").setLevel(logging.INFO)
    from dari.federation.consortium.hub_exec import HubExecutor

    executor = HubExecutor(
        runtime_api_address=args.runtime_api_address,
        root_certificates=args.root_certificates.read_bytes() if args.root_certificates else None,
        auth_secret=args.superexec_auth_secret_file.read_bytes() if args.superexec_auth_secret_file else None,
    )
    logging.getLogger(__name__).info("hub executor on %s: apps %s", args.runtime_api_address, ", ".join(executor.apps))
    executor.serve()


if __name__ == "__main__":
    main()
