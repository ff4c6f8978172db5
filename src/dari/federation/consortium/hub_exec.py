"""The hub's long-running ServerApp executor: dari's installed hub apps, run in one warm process beside the SuperLink.

A stock SuperLink starts a fresh `flwr-serverapp` process for every run (it imports flwr and dari again, then
polls its replies every 3 s). The consortium's SuperLink runs with `--isolation process` and this executor takes
its ServerApp tasks through flwr's Runtime API instead: for each, it pulls the task input, reads the FAB's
`serverapp` component without installing or importing anything from the FAB, runs the *installed* hub app of that
name if it is one of `ALLOWED_SERVERAPPS`, and pushes the task's status. Replies (`FastGrid`) and tasks
are polled at the pace of `pacing.Pacer`, so a round costs what the sites' work costs.
"""

from __future__ import annotations

import importlib
import io
import logging
import time
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
from flwr.app import Message
from flwr.common.config import get_fused_config_from_fab
from flwr.common.constant import SubStatus
from flwr.common.serde import context_from_proto, context_to_proto, fab_from_proto, run_from_proto
from flwr.proto.runtime_pb2 import (  # pylint: disable=E0611
    AcquireTaskRequest,
    PullTaskInputRequest,
    PushTaskOutputRequest,
)
from flwr.serverapp import ServerApp
from flwr.supercore.constant import TaskType
from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor, SuperExecAuthHttpInterceptor
from flwr.supercore.protobuf.client import ProtobufClientInterceptor
from flwr.supercore.retry import make_simple_http_retry_invoker
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supercore.task_identity import TaskIdentity
from flwr.superlink.grid import HttpGrid

from dari.federation.consortium.pacing import Pacer
from dari.federation.flower.vetted_apps import AppRefusedError

log = logging.getLogger(__name__)

#: The hub apps the consortium runs (the deployed `_deployed_main` entry points).
ALLOWED_SERVERAPPS: tuple[str, ...] = (
    "dari.federation.flower.hub_app:app",
    "dari.federation.flower.query_apps:hub_app",
    "dari.federation.consortium.train_deployed:hub_app",
)
_ACQUIRE = "/flwr.proto.Runtime/AcquireTask"


class FastGrid(HttpGrid):
    """flwr's Runtime-API grid, polling for replies paced (`Pacer`: 0.02 s backing off to 0.5 s), not every 3 s."""

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        """Push the messages, then pull replies until all came back or `timeout` passed (flwr's loop, faster)."""
        t0 = time.monotonic()
        waiting = set(self.push_messages(messages))
        t1 = time.monotonic()
        end = time.monotonic() + (timeout if timeout is not None else 0.0)
        replies: list[Message] = []
        pacer = Pacer()
        pacer.busy()
        while timeout is None or time.monotonic() < end:
            got = list(self.pull_messages(waiting))
            replies.extend(got)
            waiting.difference_update(m.metadata.reply_to_message_id for m in got)
            if not waiting:
                break
            if got:
                pacer.busy()  # the other sites' replies are likely close behind
            pacer.wait()
        log.info("round: push %.3f s, replies after %.3f s", t1 - t0, time.monotonic() - t1)
        return replies


def serverapp_component(content: bytes) -> str:
    """The `serverapp` a FAB's pyproject.toml names, read from the zip without installing it."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            text = zf.read("pyproject.toml")[: 64 * 1024].decode("utf-8")
        node: object = tomllib.loads(text)
    except (KeyError, zipfile.BadZipFile, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AppRefusedError(f"the FAB is not a readable app bundle ({type(exc).__name__})") from exc
    for key in ("tool", "flwr", "app", "components", "serverapp"):
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, str):
        raise AppRefusedError("the FAB declares no serverapp component")
    return node


@dataclass
class HubExecutor:
    """Takes the SuperLink's ServerApp tasks from its Runtime API and runs dari's installed hub apps in-process."""

    runtime_api_address: str
    root_certificates: bytes | None = None
    auth_secret: bytes | None = None
    pacer: Pacer = field(default_factory=Pacer)
    apps: dict[str, ServerApp] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.apps:  # imported once, now: the warm process is the point
            for ref in ALLOWED_SERVERAPPS:
                module, _, attribute = ref.partition(":")
                self.apps[ref] = getattr(importlib.import_module(module), attribute)
        for ref, app in self.apps.items():
            if not isinstance(app, ServerApp):
                raise TypeError(f"{ref} is not a ServerApp")

    def _client(self, *interceptors: ProtobufClientInterceptor) -> RuntimeHttpClient:
        return RuntimeHttpClient.from_server_address(
            server_address=self.runtime_api_address,
            insecure=self.root_certificates is None,
            root_certificates=self.root_certificates,
            interceptors=[RuntimeVersionHttpInterceptor(component_name="flwr-serverapp"), *interceptors],
            retry_invoker=make_simple_http_retry_invoker(),
        )

    def serve(self, max_tasks: int | None = None) -> int:
        """Acquire and run ServerApp tasks until stopped (or `max_tasks` ran); the number run."""
        auth: list[ProtobufClientInterceptor] = []
        if self.auth_secret:
            auth.append(SuperExecAuthHttpInterceptor(master_secret=self.auth_secret, protected_methods={_ACQUIRE}))
        acquirer = self._client(*auth)
        done = 0
        try:
            while max_tasks is None or done < max_tasks:
                try:
                    res = acquirer.AcquireTask(AcquireTaskRequest(supported_task_types=[TaskType.SERVER_APP]))
                except httpx.HTTPError as exc:  # the SuperLink restarting: keep polling
                    log.warning("Runtime API at %s: %s", self.runtime_api_address, type(exc).__name__)
                    time.sleep(2.0)
                    continue
                if res.HasField("task") and res.token:
                    self.run_task(res.token)
                    self.pacer.busy()
                    done += 1
                    continue
                self.pacer.wait()
        finally:
            acquirer.close()
        return done

    def run_task(self, token: str) -> None:
        """One run: pull its input, run the installed hub app it names (or refuse), push the status."""
        grid = FastGrid(
            runtime_api_address=self.runtime_api_address,
            insecure=self.root_certificates is None,
            root_certificates=self.root_certificates,
            token=token,
        )
        # flwr's own ServerApp runtime (superlink/runtime/run_serverapp.py) talks through these same members.
        client = grid._runtime_client
        heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
        heartbeat.start()
        context, status, details = None, SubStatus.FAILED, "the hub could not run the task"
        try:
            res = client.PullTaskInput(PullTaskInputRequest())
            context, run, fab = context_from_proto(res.context), run_from_proto(res.run), fab_from_proto(res.fab)
            # Messages take their run and sender from the task identity, as in flwr's own ServerApp runtime.
            TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = res.task_id, run.run_id, context.node_id
            grid.set_run(run)
            component = serverapp_component(fab.content)
            if component not in self.apps:
                raise AppRefusedError(f"serverapp {component[:60]!r} is not one of dari's hub apps")
            context.run_config = get_fused_config_from_fab(fab.content, run)
            self.apps[component](grid=grid, context=context)
            status, details = SubStatus.COMPLETED, ""
        except AppRefusedError as exc:
            details = f"app refused by the hub: {exc}"
            log.warning("%s", details)
        except Exception as exc:  # the run must end with a status; the traceback stays in this log
            log.exception("ServerApp task failed")
            details = f"ServerApp failed: {type(exc).__name__}"
        finally:
            try:
                client.PushTaskOutput(
                    PushTaskOutputRequest(
                        context=context_to_proto(context) if context else None, sub_status=status, details=details
                    )
                )
            except httpx.HTTPError as exc:
                log.error("could not push the task's status: %s", type(exc).__name__)
            if heartbeat.is_running:
                heartbeat.stop()
            grid.close()
