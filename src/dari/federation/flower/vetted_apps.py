"""Only dari's own, installed ClientApps run at a site: the site's executor for a SuperNode in process isolation.

A stock SuperNode runs whatever app a `flwr run` sends: `flwr-clientapp` unpacks the FAB (Flower App Bundle) and
imports the clientapp component it names, with the node config (site folder, hub token file) in its context. A
dari site instead starts `flower-supernode --isolation process` and this executor (`dari site clientapp-exec`),
which takes the node's ClientApp tasks itself through flwr's Runtime API and, for each one:

1. pulls the task input (message, context, run, FAB) with flwr's own `pull_task_input`;
2. vets the FAB without installing or importing anything from it (`vet_fab`): its bytes must hash to the run's
   FAB hash, it may hold nothing but its `pyproject.toml` (and flwr's `.info/CONTENT` manifest), its declared
   clientapp must be one of `ALLOWED_CLIENTAPPS`, and its hash one of the site's release hashes when it keeps a
   list;
3. runs the *installed* ClientApp object of that name, imported from the site's own dari when the executor
   starts, so code sent over the wire never runs;
4. pushes the reply, or for a refused app an error reply carrying the reason only, a log line, and an
   `app.refused` entry in the site's audit file.

Flower's `--trusted-entities` is not the mechanism: flwr 1.41's SuperNode checks FAB signatures only when the
SuperLink marks the FAB `valid_license`, which only FABs fetched from Flower's hosted hub carry (see
docs/dependencies.md).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import logging
import time
import tomllib
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from flwr.app import Context, Message
from flwr.app.error import Error
from flwr.clientapp import ClientApp
from flwr.common.constant import ErrorCode, SubStatus
from flwr.proto.runtime_pb2 import AcquireTaskRequest  # pylint: disable=E0611
from flwr.supercore.constant import TaskType
from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
from flwr.supercore.interceptors import (
    RuntimeTokenHttpInterceptor,
    RuntimeVersionHttpInterceptor,
    SuperExecAuthHttpInterceptor,
)
from flwr.supercore.protobuf.client import ProtobufClientInterceptor
from flwr.supercore.retry import make_simple_http_retry_invoker
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output

from dari.errors import DariError, InputError
from dari.federation.site_audit import SiteAuditLog

log = logging.getLogger(__name__)

#: The clientapp components a site runs: dari's validation app and its query (feasibility, Table 1) app.
ALLOWED_CLIENTAPPS: tuple[str, ...] = (
    "dari.federation.flower.site_app:app",
    "dari.federation.flower.query_apps:site_app",
    "dari.federation.flower.train_apps:site_app",
)
#: What a dari job's FAB may hold: its pyproject.toml, and the manifest `flwr build` adds.
ALLOWED_FAB_FILES = frozenset({"pyproject.toml", ".info/CONTENT"})
MAX_PYPROJECT_BYTES = 64 * 1024  # a job's pyproject is a few hundred bytes; refuse before reading a zip bomb
_ACQUIRE = "/flwr.proto.Runtime/AcquireTask"


class AppRefusedError(DariError):
    """The FAB of a run is not a dari release this site runs; the message is the reason that leaves the site."""


@dataclass(frozen=True)
class VettedApp:
    """A FAB that passed: its SHA-256 and the installed clientapp component it names."""

    fab_hash: str
    component: str


def _shown(name: str) -> str:
    return repr(name[:60])  # names inside a FAB are the sender's text: short and quoted in logs and reasons


def _pyproject(content: bytes) -> dict[str, object]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise AppRefusedError("the FAB holds one file name twice")
            extra = sorted(set(names) - ALLOWED_FAB_FILES)
            if extra:
                shown = ", ".join(_shown(n) for n in extra[:5])
                raise AppRefusedError(f"the FAB carries code or files of its own ({len(extra)}: {shown})")
            info = next((i for i in infos if i.filename == "pyproject.toml"), None)
            if info is None:
                raise AppRefusedError("the FAB has no pyproject.toml")
            if info.file_size > MAX_PYPROJECT_BYTES:
                raise AppRefusedError(f"the FAB's pyproject.toml is over {MAX_PYPROJECT_BYTES} bytes")
            text = zf.read(info)[: MAX_PYPROJECT_BYTES + 1].decode("utf-8")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, UnicodeDecodeError, OSError, EOFError) as exc:
        raise AppRefusedError(f"the FAB is not a readable app bundle ({type(exc).__name__})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AppRefusedError("the FAB's pyproject.toml is not valid TOML") from exc


def _clientapp_ref(pyproject: Mapping[str, object]) -> str:
    node: object = pyproject
    for key in ("tool", "flwr", "app", "components", "clientapp"):
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, str):
        raise AppRefusedError("the FAB declares no clientapp component")
    return node


def vet_fab(
    content: bytes,
    declared_hash: str,
    allowed_hashes: Collection[str] | None = None,
    allowed_apps: Collection[str] = ALLOWED_CLIENTAPPS,
) -> VettedApp:
    """The vetted app of a FAB, or `AppRefusedError` with the reason; reads the zip, never installs or imports it."""
    fab_hash = hashlib.sha256(content).hexdigest()
    if declared_hash and declared_hash != fab_hash:
        raise AppRefusedError("the FAB's content does not match the run's FAB hash")
    component = _clientapp_ref(_pyproject(content))
    if component not in allowed_apps:
        raise AppRefusedError(f"clientapp {_shown(component)} is not one of dari's site apps")
    # Last, so that the reason names what is wrong with a foreign app rather than only "not listed".
    if allowed_hashes is not None and fab_hash not in allowed_hashes:
        raise AppRefusedError("the FAB is not one of this site's dari release apps (hash not in its list)")
    return VettedApp(fab_hash=fab_hash, component=component)


def installed_app(ref: str) -> ClientApp:
    """The ClientApp object `module:attribute` from the site's installed packages (refs from our own list only)."""
    module, _, attribute = ref.partition(":")
    app = getattr(importlib.import_module(module), attribute)
    if not isinstance(app, ClientApp):
        raise TypeError(f"{ref} is not a ClientApp")
    return app


def read_hash_list(path: Path) -> frozenset[str]:
    """The release FAB hashes in a file: one SHA-256 (hex) per line, `#` starts a comment."""
    hashes = set()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip().lower()
        if not line:
            continue
        if len(line) != 64 or any(c not in "0123456789abcdef" for c in line):
            raise InputError("not a SHA-256 in hex", file=str(path), row=number)
        hashes.add(line)
    return frozenset(hashes)


@dataclass
class VettedExecutor:
    """Takes a SuperNode's ClientApp tasks from its Runtime API and runs only vetted, installed dari apps."""

    runtime_api_address: str
    site_folder: Path
    insecure: bool = False
    root_certificates: bytes | None = None
    auth_secret: bytes | None = None
    allowed_hashes: frozenset[str] | None = None
    apps: dict[str, ClientApp] = field(default_factory=dict)
    _accepted_runs: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Imported now, from the installed package: nothing a FAB carries can take their place later.
        self.apps = self.apps or {ref: installed_app(ref) for ref in ALLOWED_CLIENTAPPS}
        self.audit = SiteAuditLog(self.site_folder)

    def _client(self, *interceptors: ProtobufClientInterceptor) -> RuntimeHttpClient:
        return RuntimeHttpClient.from_server_address(
            server_address=self.runtime_api_address,
            insecure=self.insecure,
            root_certificates=None if self.insecure else self.root_certificates,
            interceptors=[RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"), *interceptors],
            retry_invoker=make_simple_http_retry_invoker(),
        )

    def serve(self, poll_interval_s: float = 1.0, max_tasks: int | None = None) -> int:
        """Acquire and run ClientApp tasks until stopped (or `max_tasks` ran); the number of tasks run."""
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
                    time.sleep(max(poll_interval_s, 2.0))
                    continue
                if res.HasField("task") and res.token:
                    self.run_task(res.token)
                    done += 1
                    continue
                time.sleep(poll_interval_s)
        finally:
            acquirer.close()
        return done

    def run_task(self, token: str) -> None:
        """One task: pull its input, vet the FAB, run the installed app or refuse, push the reply and the status."""
        client = self._client(RuntimeTokenHttpInterceptor(token))
        heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
        heartbeat.start()
        context, status, details = None, SubStatus.FAILED, "the site could not run the task"
        try:
            message, context, run, fab = pull_task_input(client)
            reply, outcome, details = self._answer(message, context, run.run_id, fab.content, run.fab_hash)
            push_message(client, reply, context)
            status = outcome  # completed only once the reply is with the SuperNode
        except Exception:  # the task must end with a status; the traceback stays in the site's own log
            log.exception("ClientApp task failed at the site")
        finally:
            push_task_output(client=client, context=context, sub_status=status, details=details)
            if heartbeat.is_running:
                heartbeat.stop()
            client.close()

    def _answer(
        self, message: Message, context: Context, run_id: int, content: bytes, declared_hash: str
    ) -> tuple[Message, str, str]:
        fab_hash = hashlib.sha256(content).hexdigest()
        try:
            vetted = vet_fab(content, declared_hash, self.allowed_hashes, tuple(self.apps))
        except AppRefusedError as exc:
            reason = f"app refused by the site: {exc}"
            log.warning("run %d: %s (FAB %s)", run_id, reason, fab_hash[:12])
            self.audit.record("app.refused", "refused", run_id=run_id, fab_hash=fab_hash, reason=str(exc))
            return Message(Error(code=ErrorCode.INVALID_FAB, reason=reason), reply_to=message), SubStatus.FAILED, reason
        if run_id not in self._accepted_runs:  # one entry per run, not per Newton round
            self.audit.record("app.accepted", "ok", run_id=run_id, fab_hash=fab_hash, component=vetted.component)
            self._accepted_runs.add(run_id)
        try:
            reply = self.apps[vetted.component](message=message, context=context)
        except Exception as exc:  # dari's apps answer refusals themselves; anything else: its type leaves, no more
            log.exception("run %d: %s raised", run_id, vetted.component)
            reason = f"site app failed: {type(exc).__name__}"
            return (
                Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message),
                (SubStatus.FAILED),
                reason,
            )
        return reply, SubStatus.COMPLETED, ""
