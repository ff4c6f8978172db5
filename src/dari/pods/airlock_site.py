"""The site's side of research pods: pull a submitted bundle from the hub, run it through the one site guard, check
its outputs, report the manifest; after two output checkers approve, send exactly the approved files.

The site talks to the hub over its REST API with its own steward's API token, like `HubApiGrantChecker`: it pulls
(`POST /api/v1/pods/{id}/pull`, the hub's `PodRequest` with a signed ticket), downloads the bundle, and runs it
only if the guard admits the job (ticket, grant now, once) and the bundle's canonical SHA-256 is the one the hub
recorded. Outputs stay at `SITE/pods/runs/<run_id>/outputs/`; the hub gets names, sizes, hashes and findings. The
site keeps its own record of what it reported (`SITE/pods/airlock/<pod>.json`) and, at push time, sends a file
only if it is in that record, no blocking rule held it back, its bytes still hash the same, and the hub names two
different approving checkers. Rejected outputs never leave. Every step is in the site's audit log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dari.atomic import atomic_path
from dari.disclosure import DisclosureRules
from dari.errors import DariError, InputError
from dari.federation.flower.grants import HubApiGrantChecker, require_secure_hub_url
from dari.federation.guard import Admission, SiteBinding, SiteGuard
from dari.federation.site_audit import SiteAuditLog
from dari.pods.grant import PodGrant, PodRequest
from dari.pods.models import PodLimits, PodRun
from dari.pods.output_check import FileReport, OutputReport, check_outputs

Runner = Callable[..., PodRun]
APPROVALS_NEEDED = 2


class HubError(DariError):
    """The hub refused or could not be reached (the message names the call and the HTTP status, never a token)."""


class SitePodOutcome(BaseModel):
    """What happened to one pod at this site in one pull or push."""

    model_config = ConfigDict(frozen=True)
    pod_id: str
    status: Literal["held", "refused", "failed", "released", "withheld", "skipped"]
    reason: str = ""
    run_id: str | None = None
    files: list[str] = []


class HubClient:
    """The hub's pod API with this site's steward token."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 60.0) -> None:
        require_secure_hub_url(url)
        self.url, self._token, self.timeout_s = url.rstrip("/"), token, timeout_s

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; JSON back (bytes for the bundle); `HubError` on anything but success."""
        import httpx

        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = httpx.request(method, f"{self.url}{path}", headers=headers, timeout=self.timeout_s, **kwargs)
        except httpx.HTTPError as exc:
            raise HubError(f"hub unreachable ({method} {path}): {type(exc).__name__}") from None
        if response.status_code >= 300:
            detail = (
                response.text[:300] if response.headers.get("content-type", "").startswith("application/json") else ""
            )
            raise HubError(f"hub answered HTTP {response.status_code} to {method} {path} {detail}".strip())
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content


def _record_path(site_folder: Path, pod_id: str) -> Path:
    return site_folder / "pods" / "airlock" / f"{pod_id}.json"


def _write_record(site_folder: Path, pod_id: str, record: dict[str, Any]) -> None:
    with atomic_path(_record_path(site_folder, pod_id)) as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")


def _read_record(site_folder: Path, pod_id: str) -> dict[str, Any] | None:
    path = _record_path(site_folder, pod_id)
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _default_runner() -> Runner:
    from dari.pods.runner import run_bundle

    return run_bundle


def pull_and_run(
    site_folder: Path,
    *,
    site_id: str,
    hub_url: str,
    token: str,
    hub_public_key: str,
    dataset_id: str = "",
    floor: DisclosureRules | None = None,
    limits: PodLimits | None = None,
    runner: Runner | None = None,
) -> list[SitePodOutcome]:
    """Pull every pod submitted for this site, run each through the guard, check and hold its outputs, report."""
    hub = HubClient(hub_url, token)
    binding = SiteBinding(
        site_id=site_id,
        folder=str(site_folder),
        dataset_id=dataset_id,
        floor=floor or DisclosureRules(),
        hub_public_key=hub_public_key,
    )
    guard = SiteGuard(binding, HubApiGrantChecker(hub_url, token))
    outcomes = _report_again(site_folder, hub)
    pending = hub.call("GET", "/api/v1/pods", params={"status": "submitted"})
    for pod in pending:
        outcomes.append(_pull_one(site_folder, hub, guard, str(pod["id"]), limits, runner or _default_runner()))
    return outcomes


def _report_again(site_folder: Path, hub: HubClient) -> list[SitePodOutcome]:
    """Manifests of runs this site held but the hub never heard of (the report failed after the run)."""
    outcomes = []
    for pod in hub.call("GET", "/api/v1/pods", params={"status": "pulled"}):
        record = _read_record(site_folder, str(pod["id"]))
        if record is None or record.get("status") != "held":
            continue
        manifest = {
            "status": "held",
            "run_id": record["run_id"],
            "min_cell": record.get("min_cell"),
            "files": record["files"],
        }
        _report(hub, str(pod["id"]), manifest)
        names = [str(f["name"]) for f in record["files"]]
        outcomes.append(
            SitePodOutcome(
                pod_id=str(pod["id"]), status="held", run_id=record["run_id"], files=names, reason="manifest sent again"
            )
        )
    return outcomes


def _pull_one(
    site_folder: Path, hub: HubClient, guard: SiteGuard, pod_id: str, limits: PodLimits | None, runner: Runner
) -> SitePodOutcome:
    from dari.pods.bundle import bundle_sha256

    audit = guard.audit_log
    request = PodRequest.model_validate(hub.call("POST", f"/api/v1/pods/{pod_id}/pull"))
    if not request.tickets:
        audit.record("pod.pull", "deny", pod=pod_id, requester=request.requester, reason="the hub issued no ticket")
        return SitePodOutcome(pod_id=pod_id, status="refused", reason="the hub issued no ticket (no grant)")
    bundle = site_folder / "pods" / "inbox" / f"{pod_id}.zip"
    with atomic_path(bundle) as tmp:
        tmp.write_bytes(hub.call("GET", f"/api/v1/pods/{pod_id}/bundle"))
    audit.record("pod.pull", "allow", pod=pod_id, requester=request.requester, bundle_sha256=request.bundle_sha256)

    def work(admission: Admission) -> tuple[PodRun, OutputReport]:
        if bundle_sha256(bundle) != request.bundle_sha256:  # the bytes are not what the hub recorded
            raise InputError("the bundle pulled is not the one the hub recorded (SHA-256 differs)", file=bundle.name)
        run = runner(site_folder, bundle, grant=PodGrant.from_request(admission, request), limits=limits)
        outputs = site_folder / "pods" / "runs" / run.run_id / "outputs"
        persons = run.view.rows.get("person") or run.view.persons_in
        return run, check_outputs(outputs, rules=admission.rules, cohort_size=persons)

    outcome = guard.run(request.claim(), guard.site.floor, work)
    if outcome.status != "ok" or outcome.result is None:
        status: Literal["refused", "failed"] = "refused" if outcome.status == "refused" else "failed"
        _report(hub, pod_id, {"status": status, "reason": outcome.reason[:500]})
        return SitePodOutcome(pod_id=pod_id, status=status, reason=outcome.reason)
    run, report = outcome.result
    if run.status != "ok":
        reason = f"the run {run.status}" + (f" ({run.stop_reason})" if run.stop_reason else "")
        _report(hub, pod_id, {"status": "failed", "reason": reason, "run_id": run.run_id})
        audit.record("pod.hold", "error", pod=pod_id, run=run.run_id, reason=reason)
        return SitePodOutcome(pod_id=pod_id, status="failed", reason=reason, run_id=run.run_id)
    files = [f.model_dump(mode="json") for f in report.files]
    record = {"pod": pod_id, "run_id": run.run_id, "status": "held", "min_cell": report.min_cell, "files": files}
    _write_record(site_folder, pod_id, record)
    audit.record(
        "pod.hold",
        "ok",
        pod=pod_id,
        run=run.run_id,
        grant=outcome.grant_id,
        files={f.name: f.sha256 for f in report.files},
        blocked=[f.name for f in report.files if f.blocked],
    )
    _report(hub, pod_id, {"status": "held", "run_id": run.run_id, "min_cell": report.min_cell, "files": files})
    return SitePodOutcome(pod_id=pod_id, status="held", run_id=run.run_id, files=[f.name for f in report.files])


def _report(hub: HubClient, pod_id: str, manifest: dict[str, Any]) -> None:
    hub.call("POST", f"/api/v1/pods/{pod_id}/manifest", json=manifest)


def push_decisions(site_folder: Path, *, hub_url: str, token: str) -> list[SitePodOutcome]:
    """Send the approved files of every approved run; confirm every rejected run's outputs stay here."""
    hub = HubClient(hub_url, token)
    audit = SiteAuditLog(site_folder)
    outcomes = [
        _push_one(site_folder, hub, audit, str(p["id"]))
        for p in hub.call("GET", "/api/v1/pods", params={"status": "approved"})
    ]
    for pod in hub.call("GET", "/api/v1/pods", params={"status": "rejected"}):
        pod_id = str(pod["id"])
        record = _read_record(site_folder, pod_id) or {"pod": pod_id}
        audit.record("pod.withhold", "deny", pod=pod_id, run=record.get("run_id"), reason="rejected by a checker")
        hub.call("POST", f"/api/v1/pods/{pod_id}/withheld")
        _write_record(site_folder, pod_id, {**record, "status": "withheld"})
        outcomes.append(SitePodOutcome(pod_id=pod_id, status="withheld", run_id=record.get("run_id")))
    return outcomes


def _push_one(site_folder: Path, hub: HubClient, audit: SiteAuditLog, pod_id: str) -> SitePodOutcome:
    order = hub.call("GET", f"/api/v1/pods/{pod_id}/release")
    record = _read_record(site_folder, pod_id)

    def skip(reason: str) -> SitePodOutcome:
        audit.record("pod.release", "deny", pod=pod_id, reason=reason)
        return SitePodOutcome(pod_id=pod_id, status="skipped", reason=reason)

    if record is None or record.get("run_id") != order["run_id"]:
        return skip("this site holds no record of that run")
    if len(set(order["approvers"])) < APPROVALS_NEEDED or order["rejecters"]:
        return skip("the hub names fewer than two approving output checkers")
    held = {f["name"]: FileReport.model_validate(f) for f in record["files"]}
    outputs = site_folder / "pods" / "runs" / str(record["run_id"]) / "outputs"
    names, payload = [], []
    for wanted in order["files"]:
        mine = held.get(wanted["name"])
        if mine is None or mine.blocked or mine.sha256 != wanted["sha256"]:
            return skip(f"{wanted['name']} is not a releasable file of this run's record")
        path = (outputs / mine.name).resolve()
        if not path.is_relative_to(outputs.resolve()) or not path.is_file():
            return skip(f"{mine.name} is no longer held")
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != mine.sha256:
            return skip(f"{mine.name} changed after the checks")
        names.append(mine.name)
        payload.append(("files", (Path(mine.name).name, content, "application/octet-stream")))
    hub.call("POST", "/api/v1/pods/release", data={"pod_id": pod_id, "names": names}, files=payload)
    audit.record(
        "pod.release",
        "allow",
        pod=pod_id,
        run=record["run_id"],
        approvers=sorted(order["approvers"]),
        files={n: held[n].sha256 for n in names},
    )
    _write_record(site_folder, pod_id, {**record, "status": "released", "released": names})
    return SitePodOutcome(pod_id=pod_id, status="released", run_id=record["run_id"], files=names)
