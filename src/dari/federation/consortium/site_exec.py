"""The site's long-running ClientApp: dari's vetted executor, each task's own time in its log.

`python -m dari.federation.consortium.site_exec` is `dari site clientapp-exec` (the same `VettedExecutor`: the
installed dari site apps only, every foreign app refused and audited), plus one log line per task with the seconds
the site's work took, so a round's cost splits into the sites' work and the engine's overhead
(benchmarks/consortium.py).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from flwr.app import Context, Message
from flwr.proto.runtime_pb2 import AcquireTaskRequest  # pylint: disable=E0611
from flwr.supercore.constant import TaskType
from flwr.supercore.interceptors import SuperExecAuthHttpInterceptor
from flwr.supercore.protobuf.client import ProtobufClientInterceptor

from dari.federation.consortium.pacing import Pacer
from dari.federation.flower.vetted_apps import _ACQUIRE, VettedExecutor, read_hash_list

log = logging.getLogger("dari.federation.consortium.site_exec")  # also when run as __main__


@dataclass
class TimedExecutor(VettedExecutor):
    """`VettedExecutor` that logs how long each task's answer took (the site's work, vetting included), and polls
    its SuperNode at the pace of `pacing.Pacer` rather than at one fixed interval."""

    pacer: Pacer = field(default_factory=Pacer)

    def serve(self, poll_interval_s: float = 0.0, max_tasks: int | None = None) -> int:
        """Acquire and run tasks until stopped (`VettedExecutor.serve`'s loop, its waits paced)."""
        auth: list[ProtobufClientInterceptor] = []
        if self.auth_secret:
            auth.append(SuperExecAuthHttpInterceptor(master_secret=self.auth_secret, protected_methods={_ACQUIRE}))
        acquirer = self._client(*auth)
        done = 0
        try:
            while max_tasks is None or done < max_tasks:
                try:
                    res = acquirer.AcquireTask(AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP]))
                except httpx.HTTPError as exc:  # the SuperNode restarting: keep polling, it comes back
                    log.warning("Runtime API at %s: %s", self.runtime_api_address, type(exc).__name__)
                    time.sleep(2.0)
                    continue
                if res.HasField("task") and res.token:
                    self.run_task(res.token)
                    self.pacer.busy()  # the next round's message follows soon
                    done += 1
                    continue
                self.pacer.wait()
        finally:
            acquirer.close()
        return done

    def _answer(
        self, message: Message, context: Context, run_id: int, content: bytes, declared_hash: str
    ) -> tuple[Message, str, str]:
        started = time.monotonic()
        try:
            return super()._answer(message, context, run_id, content, declared_hash)
        finally:
            log.info("task %s: site work %.3f s", message.metadata.message_type, time.monotonic() - started)


def main() -> None:
    """Serve the SuperNode's ClientApp tasks (see `dari site clientapp-exec --help` for the options' meaning)."""
    parser = argparse.ArgumentParser(description="dari's long-running vetted ClientApp executor")
    parser.add_argument("--runtime-api-address", required=True)
    parser.add_argument("--site-folder", type=Path, required=True)
    parser.add_argument("--root-certificates", type=Path)
    parser.add_argument("--superexec-auth-secret-file", type=Path)
    parser.add_argument("--fab-hashes", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("dari").setLevel(logging.INFO)
    executor = TimedExecutor(
        runtime_api_address=args.runtime_api_address,
        site_folder=args.site_folder,
        insecure=args.root_certificates is None,
        root_certificates=args.root_certificates.read_bytes() if args.root_certificates else None,
        auth_secret=args.superexec_auth_secret_file.read_bytes() if args.superexec_auth_secret_file else None,
        allowed_hashes=read_hash_list(args.fab_hashes) if args.fab_hashes else None,
    )
    log.info("site executor on %s: apps %s", args.runtime_api_address, ", ".join(executor.apps))
    executor.serve()


if __name__ == "__main__":
    main()
