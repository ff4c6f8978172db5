"""What a site publishes about a deployed model in use (`MonitoringPublication`), and its three ways to the hub.

The publication carries the windows and the inference audit as the hub keeps it: one `InferenceEntry` per call
with the clinician's feedback joined by card uuid, and never the keyed hashes, model inputs or evaluation dates the
site keeps (`dari.care.inference_audit`). Refusal reasons are scrubbed of FHIR references once more before they
leave (older logs were written before the service scrubbed them).

Delivery: the hub's REST API (`POST {hub}/api/v1/monitoring`, a site steward's bearer token), the hub store
directly (`dari.hub.monitoring.ingest_publication`, for a hub on the same machine), or a JSON file (atomic). The
hub takes a bounded publication (1,000 windows, 20,000 calls, 8 MiB), so a long history goes as several parts
(`split_publication`): windows first, then the calls; the hub keeps the latest version of each window and each
call, so sending a part twice does no harm.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import zip_longest
from pathlib import Path

import httpx

from dari.atomic import atomic_path
from dari.care.inference_audit import scrub_reason
from dari.errors import DariError, InputError
from dari.monitoring.calls import LoggedCall
from dari.monitoring.publication import InferenceEntry, MonitoringPolicy, MonitoringPublication, MonitoringWindow
from dari.monitoring.reference import Deployment


class PublishError(DariError):
    """The hub did not take the publication."""


def inference_entries(calls: Sequence[LoggedCall], model_version: str) -> list[InferenceEntry]:
    """The calls as the hub keeps them: no keyed hashes, inputs, patient hash or evaluation date."""
    return [
        InferenceEntry(
            at=c.at,
            service_id=c.service_id,
            hook_instance=c.hook_instance,
            model_sha256=c.model_sha256,
            model_version=model_version,
            status=c.status,
            reason=scrub_reason(c.reason),
            probability=c.probability,
            indicator=c.indicator,
            card_uuid=c.card_uuid,
            latency_ms=c.latency_ms,
            feedback=c.feedback,
        )
        for c in calls
    ]


def build_publication(
    deployment: Deployment,
    *,
    site_id: str,
    policy: MonitoringPolicy,
    windows: list[MonitoringWindow],
    calls: Sequence[LoggedCall],
    generated_at: datetime | None = None,
) -> MonitoringPublication:
    """The publication of one deployed model at one site."""
    spec = deployment.spec
    return MonitoringPublication(
        site_id=site_id,
        model_sha256=deployment.model_sha256,
        model_name=spec.name,
        model_version=spec.version,
        report_id=deployment.report_id,
        generated_at=generated_at or datetime.now(UTC),
        policy=policy,
        windows=windows,
        inferences=inference_entries(calls, spec.version),
    )


def since(
    windows: Sequence[MonitoringWindow], calls: Sequence[LoggedCall], start: datetime
) -> tuple[list[MonitoringWindow], list[LoggedCall]]:
    """Windows ending after `start`, whole (a cut window would replace the full one on the hub), with their calls."""
    kept = [w for w in windows if w.end > start]
    first = min((w.start for w in kept), default=None)
    return kept, [c for c in calls if first is not None and c.at >= first]


def split_publication(
    publication: MonitoringPublication, *, max_windows: int = 500, max_inferences: int = 10_000
) -> list[MonitoringPublication]:
    """The publication in parts within the hub's bounds (about 3 KB per window and 350 bytes per call)."""
    windows = [publication.windows[i : i + max_windows] for i in range(0, len(publication.windows), max_windows)]
    calls = [
        publication.inferences[i : i + max_inferences] for i in range(0, len(publication.inferences), max_inferences)
    ]
    parts = [
        publication.model_copy(update={"windows": w or [], "inferences": c or []})
        for w, c in zip_longest(windows, calls)
    ]
    return parts or [publication]


def publication_json(publication: MonitoringPublication) -> str:
    """The publication as JSON text (the REST body and the file's content)."""
    return publication.model_dump_json()


def write_publication(publication: MonitoringPublication, path: Path) -> None:
    """Write the publication to a JSON file, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(publication_json(publication) + "\n", encoding="utf-8")


def post_to_hub(
    publication: MonitoringPublication,
    hub_url: str,
    token: str,
    *,
    client: httpx.Client | None = None,
    timeout_s: float = 60.0,
) -> str:
    """`POST {hub}/api/v1/monitoring` with the steward's token; the hub's id of the publication."""
    if not hub_url.startswith(("https://", "http://")):
        raise InputError(f"hub URL must start with https:// (or http:// on loopback), got {hub_url!r}")
    if not token.strip():
        raise InputError("the hub API token is empty")
    url = f"{hub_url.rstrip('/')}/api/v1/monitoring"
    headers = {"Authorization": f"Bearer {token.strip()}", "Content-Type": "application/json"}
    body = publication_json(publication).encode()
    try:
        if client is not None:
            response = client.post(url, content=body, headers=headers)
        else:
            response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise PublishError(f"hub unreachable at {hub_url}: {type(exc).__name__}") from None
    if response.status_code not in (200, 201):
        detail = response.text[:300]
        raise PublishError(f"the hub refused the publication: HTTP {response.status_code} {detail}")
    try:
        return str(response.json()["id"])
    except (ValueError, KeyError, TypeError):
        raise PublishError("the hub answered without a publication id") from None


def ingest_into_hub_store(publication: MonitoringPublication, db: str, username: str) -> str:
    """Store the publication in a hub store directly, acting as `username` (a site steward or an admin)."""
    from dari.hub.db.engine import make_engine, require_schema, session_factory
    from dari.hub.governance.users import get_user

    try:
        from dari.hub.monitoring import ingest_publication  # the hub's side; absent on an older hub
    except ImportError:
        raise PublishError("this hub has no monitoring store (dari.hub.monitoring); publish by URL instead") from None
    engine = make_engine(db)
    try:
        require_schema(engine)
        with session_factory(engine)() as session, session.begin():
            return str(ingest_publication(session, get_user(session, username), publication))
    finally:
        engine.dispose()
