"""The deployment gate re-checked while serving: a service started from a `dari deploy` folder scores only while
the hub says its model is approved for its site, and stops at once when the approval is withdrawn.

The hub is asked through its store (`deployment_allowed`, the check `dari deploy` itself ran) or its REST API
(`POST {hub}/api/v1/deployments/check`). An answer is kept for `cache_s` (1 s by default) so that asking stays off
the hot path: a background thread asks again every `cache_s / 2`, and a request that finds no valid answer asks
itself, one request at a time, off the event loop. A withdrawal therefore stops scoring within `cache_s`. When
the hub cannot be asked, the last yes holds for `grace_s` more (a hub restart, a network blip); after that the
answer is no, with the reason.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dari.errors import DariError, InputError

MANIFEST_FILE = "deployment.json"
CHECK_PATH = "/api/v1/deployments/check"
log = logging.getLogger("dari.care.gate")


class GateUnavailableError(DariError):
    """The hub could not be asked (unreachable, an error status, an answer that is not one)."""


class _Manifest(BaseModel):
    """`deployment.json` as `dari deploy` writes it (other keys are kept by the file, not read here)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    model_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    site: Annotated[str, Field(min_length=1, max_length=64)]
    report_id: str | None = None
    approver: str | None = None


@dataclass(frozen=True)
class DeploymentManifest:
    """What a deployment folder says it deploys: the model's hash, the site, and the approval it was made under."""

    folder: Path
    model_sha256: str
    site: str
    report_id: str | None
    approver: str | None

    @classmethod
    def load(cls, folder: Path) -> DeploymentManifest:
        """Read `FOLDER/deployment.json`; a missing or malformed manifest names the file and field."""
        path = folder / MANIFEST_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"not a deployment folder written by `dari deploy`: {exc}", file=str(path)) from None
        try:
            manifest = _Manifest.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(root)"
            raise InputError(first["msg"], file=str(path), column=field) from None
        return cls(folder, manifest.model_sha256, manifest.site, manifest.report_id, manifest.approver)


@dataclass(frozen=True)
class GateAnswer:
    """The hub's answer: may the model serve care at the site now, and under which approval."""

    allowed: bool
    reason: str
    report_id: str | None = None
    approver: str | None = None


class GateSource(Protocol):
    """Where the gate asks; raises GateUnavailableError when it cannot get an answer."""

    def ask(self, model_sha256: str, site_id: str) -> GateAnswer:
        """The hub's current answer for the model at the site."""
        ...


class HubStoreSource:
    """Asks the hub's own store (SQLite file or PostgreSQL URL), as `dari deploy` does."""

    def __init__(self, target: str | Path) -> None:
        from dari.hub.db.engine import make_engine, require_schema, session_factory

        if "://" not in str(target) and not Path(target).is_file():
            raise InputError("no hub store there (a SQLite file or a postgresql:// URL)", file=str(target))
        self.engine = make_engine(target)
        require_schema(self.engine)  # a store `dari hub init` never prepared is refused at start-up
        self._sessions = session_factory(self.engine)

    def ask(self, model_sha256: str, site_id: str) -> GateAnswer:
        """`deployment_allowed` in a short read transaction."""
        from sqlalchemy.exc import SQLAlchemyError

        from dari.hub.governance.deployment import deployment_allowed

        try:
            with self._sessions() as session, session.begin():
                decision = deployment_allowed(session, model_sha256, site_id)
        except SQLAlchemyError as exc:
            raise GateUnavailableError(f"the hub store cannot be read: {type(exc).__name__}") from None
        return GateAnswer(decision.allowed, decision.reason, decision.report_id, decision.approver)

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()


class _CheckAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    allowed: bool
    reason: str = ""
    report_id: str | None = None
    approver: str | None = None


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ip_address(host).is_loopback
    except ValueError:
        return False


class HubApiSource:
    """Asks the hub's REST API with a bearer token; https only, except on loopback."""

    def __init__(self, hub_url: str, token: str, *, timeout_s: float = 2.0, client: httpx.Client | None = None) -> None:
        parts = urlsplit(hub_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"the hub URL must be an http(s) URL, got {hub_url!r}", column="--hub-url")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise InputError(f"the hub URL must be https:// (it carries a token), got {hub_url!r}", column="--hub-url")
        if not token.strip():
            raise InputError("the hub API token is empty", column="--hub-token-file")
        self.url = hub_url.rstrip("/") + CHECK_PATH
        self._headers = {"Authorization": f"Bearer {token.strip()}"}
        self._client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)

    def ask(self, model_sha256: str, site_id: str) -> GateAnswer:
        """One POST; any transport error, non-200 status or malformed body means the hub could not be asked."""
        try:
            response = self._client.post(
                self.url, json={"model_sha256": model_sha256, "site_id": site_id}, headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise GateUnavailableError(f"the hub at {self.url} cannot be reached: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise GateUnavailableError(f"the hub at {self.url} answered HTTP {response.status_code}")
        try:
            body = _CheckAnswer.model_validate_json(response.content)
        except ValidationError:
            raise GateUnavailableError(f"the hub at {self.url} gave an answer that is not a deployment check") from None
        return GateAnswer(
            body.allowed, body.reason or ("approved" if body.allowed else "refused"), body.report_id, body.approver
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


@dataclass(frozen=True)
class GateDecision:
    """What the service does now: score or refuse (503), why, and until when (gate clock) it holds."""

    allowed: bool
    reason: str
    report_id: str | None
    approver: str | None
    valid_until: float
    answered: bool = True  # False when the hub could not be asked and this is the grace or its end


class DeploymentGate:
    """The cached, re-checked answer to "may this model serve care at this site now?"."""

    def __init__(
        self,
        source: GateSource,
        model_sha256: str,
        site_id: str,
        *,
        cache_s: float = 1.0,
        grace_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < cache_s <= 60:
            raise InputError(f"the gate's cache must be in (0, 60] seconds, got {cache_s}", column="cache_s")
        if not 0 <= grace_s <= 3600:
            raise InputError(f"the gate's grace must be in [0, 3600] seconds, got {grace_s}", column="grace_s")
        self.source, self.model_sha256, self.site_id = source, model_sha256, site_id
        self.cache_s, self.grace_s, self.clock = cache_s, grace_s, clock
        self._decision: GateDecision | None = None
        self._confirmed_at: float | None = None  # when the hub last said yes
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def current(self) -> GateDecision | None:
        """The decision while it is valid (no hub call, no lock); None when the hub must be asked first."""
        decision = self._decision
        return decision if decision is not None and self.clock() < decision.valid_until else None

    def check(self) -> GateDecision:
        """The valid decision, asking the hub when there is none; concurrent callers share one question."""
        with self._lock:
            return self.current() or self._ask()

    def refresh(self) -> GateDecision:
        """Ask the hub now (the background thread's step)."""
        with self._lock:
            return self._ask()

    def _ask(self) -> GateDecision:
        now = self.clock()
        try:
            answer = self.source.ask(self.model_sha256, self.site_id)
        except GateUnavailableError as exc:
            decision = self._unanswered(now, str(exc))
        else:
            self._confirmed_at = now if answer.allowed else None
            decision = GateDecision(
                answer.allowed, answer.reason, answer.report_id, answer.approver, now + self.cache_s
            )
        previous, self._decision = self._decision, decision
        if previous is None or previous.allowed != decision.allowed:
            (log.info if decision.allowed else log.warning)(
                "deployment of model %s at %s: %s (%s)",
                self.model_sha256[:12],
                self.site_id,
                "serving" if decision.allowed else "REFUSING",
                decision.reason,
            )
        return decision

    def _unanswered(self, now: float, why: str) -> GateDecision:
        """The hub could not be asked: the last yes holds through the grace, then no."""
        held = self._decision
        if self._confirmed_at is not None and held is not None and held.allowed:
            ends = self._confirmed_at + self.cache_s + self.grace_s
            if now < ends:
                reason = f"approved; the hub has not answered for {now - self._confirmed_at:.0f} s ({why})"
                return replace(held, reason=reason, valid_until=min(now + self.cache_s, ends), answered=False)
        reason = f"the hub could not confirm the approval ({why})"
        return GateDecision(False, reason, None, None, now + self.cache_s, answered=False)

    def start(self) -> None:
        """Keep the decision fresh from a daemon thread that asks every `cache_s / 2`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dari-deployment-gate", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.cache_s / 2):
            try:
                self.refresh()
            except Exception:  # a bug in a source must not end the re-checks; requests then ask themselves
                log.exception("deployment gate re-check failed")

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def open_gate(
    manifest: DeploymentManifest,
    *,
    hub_db: str | None = None,
    hub_url: str | None = None,
    hub_token: str | None = None,
    cache_s: float = 1.0,
    grace_s: float = 30.0,
) -> DeploymentGate:
    """The gate of a deployment, asking the hub store (`hub_db`) or the hub API (`hub_url` with `hub_token`)."""
    if (hub_db is None) == (hub_url is None):
        raise InputError("a gated service asks the hub through exactly one of --hub-db or --hub-url")
    source: GateSource
    if hub_db is not None:
        source = HubStoreSource(hub_db)
    else:
        assert hub_url is not None
        if hub_token is None:
            raise InputError("--hub-url needs --hub-token-file (the hub's API token)")
        source = HubApiSource(hub_url, hub_token)
    return DeploymentGate(source, manifest.model_sha256, manifest.site, cache_s=cache_s, grace_s=grace_s)


def close_gate(gate: DeploymentGate) -> None:
    """Stop the re-checks and release the source's connections."""
    gate.stop()
    close = getattr(gate.source, "close", None)
    if callable(close):
        close()
