"""Helpers of the pod tests: write a bundle, and run it at the site through the real site guard."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

from dari.disclosure import DisclosureRules
from dari.federation.flower.grants import SyntheticOnlyGrantChecker
from dari.federation.guard import GuardOutcome, SiteBinding, SiteGuard
from dari.federation.site_audit import SiteAuditLog
from dari.hub.governance.requested_data import RequestedVariable
from dari.pods.bundle import bundle_sha256
from dari.pods.grant import PodGrant, PodRequest
from dari.pods.models import PodLimits, PodRun
from dari.pods.runner import run_bundle

_jobs = itertools.count(1)


def write_bundle(folder: Path, code: str, *, tables: tuple[str, ...] = ("person",), entry: str = "main.py") -> Path:
    """A bundle folder with pod.toml and one entry file."""
    folder.mkdir(parents=True, exist_ok=True)
    listed = ", ".join(f'"{t}"' for t in tables)
    (folder / "pod.toml").write_text(
        f'[pod]\nname = "{folder.name}"\nentry = "{entry}"\n\n[needs]\ntables = [{listed}]\npackages = ["duckdb"]\n',
        encoding="utf-8",
    )
    (folder / entry).write_text(textwrap.dedent(code), encoding="utf-8")
    return folder


def pod_request(site: Path, bundle: Path, tables: tuple[str, ...] = ("person",), **extra: object) -> PodRequest:
    """The hub's request for one run at site-1 (variables: the whole tables)."""
    return PodRequest(
        job_id=f"pod-job-{next(_jobs)}-{bundle.name}",
        requester="researcher-kim",
        datasets={"site-1": "site-1-cdm"},
        bundle_sha256=bundle_sha256(bundle),
        variables=[RequestedVariable(table=t, label=t) for t in tables],  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def run_at_site(
    site: Path, bundle: Path, *, limits: PodLimits | None = None, tables: tuple[str, ...] = ("person",)
) -> GuardOutcome[PodRun]:
    """Admit the pod job through the site guard (no hub: synthetic site) and run it; the guard's outcome."""
    request = pod_request(site, bundle, tables)
    guard = SiteGuard(SiteBinding(site_id="site-1", folder=str(site)), SyntheticOnlyGrantChecker({"site-1-cdm": site}))
    return guard.run(
        request.claim(),
        DisclosureRules(),
        lambda admission: run_bundle(site, bundle, grant=PodGrant.from_request(admission, request), limits=limits),
    )


def audit_of(site: Path, run_id: str) -> list[dict[str, object]]:
    """The site audit entries of one pod run."""
    return [e for e in SiteAuditLog(site).entries() if e["details"].get("run") == run_id]
