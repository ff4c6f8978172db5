"""The demo's bridge to care: deploy the validated model at site-1, serve it, replay a shifting population, watch.

After the validation report, as the people of the demo hub: the vendor registers the reference model and submits the
validation results as its report, site-1's deployment approver approves it, site-1 deploys it (`dari deploy`'s own
function) and builds the monitoring reference from its CDM. The CDS Hooks service then runs in this process on a
free loopback port, gated by the demo hub, and the test EHR replays site-1's patients through it: first as they are,
then older with worse kidney function (`dari.monitoring.replay`). Monitoring cuts the calls into one window per
stream, links outcomes from site-1's CDM, and site-1's steward publishes the windows to the hub, where the portal's
monitoring page shows the drift alert fire.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

import httpx
from rich.table import Table

from dari.cli.console import out
from dari.errors import DariError, InputError
from dari.hub.demo_setup import DemoHub
from dari.monitoring.publication import MonitoringWindow

if TYPE_CHECKING:
    from dari.monitoring.replay import DriftReplay

SITE = "site-1"
VENDOR, APPROVER, STEWARD = "vendor", "approver1", "steward1"  # demo people (dari.hub.seed)
EHR_ISSUER = "https://ehr.site-1.dari-demo.example"
EHR_KID = "ehr-1"
# Calls per replayed population: the default monitoring policy gives a drift verdict from 200 scored calls on, and
# a few calls of a stream may score no one (a patient outside the model's population on the day): keep a margin.
STREAM = 240
PORTAL = "http://127.0.0.1:8700"  # where `dari hub serve` listens by default


@dataclass(frozen=True)
class CareDemo:
    """What the care steps left: the deployment, the windows published and where the portal shows them."""

    deployment: Path
    model_sha256: str
    report_id: str
    windows: list[MonitoringWindow]
    publication_id: str
    portal_url: str


def approve_for_site(hub_db: Path, results: dict[str, Any], model_sha256: str, card: dict[str, Any]) -> str:
    """Register the model (vendor), submit the results as its report (vendor), approve it at site-1 (approver1)."""
    from dari.hub.db.engine import make_engine, require_schema, session_factory
    from dari.hub.governance.deployment import approve_deployment, register_model, submit_report
    from dari.hub.governance.users import get_user

    engine = make_engine(hub_db)
    try:
        require_schema(engine)
        with session_factory(engine)() as session, session.begin():
            register_model(session, get_user(session, VENDOR), model_sha256, card)
            report = submit_report(session, get_user(session, VENDOR), model_sha256, results)
            approve_deployment(session, get_user(session, APPROVER), report.id)
            return report.id
    finally:
        engine.dispose()


def ehr_key(folder: Path) -> tuple[bytes, Path]:
    """A fresh EC P-384 key of the test EHR (kept in memory) and the JWKS file with its public half."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from dari.atomic import atomic_path

    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwks = folder / "ehr-jwks.json"
    with atomic_path(jwks) as tmp:
        doc = {"keys": [public | {"kid": EHR_KID, "alg": "ES384", "use": "sig"}]}
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem, jwks


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free 127.0.0.1 port (bound first, so no other process can take the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(app: Any, sock: socket.socket) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on the bound loopback socket; yields its root URL."""
    import uvicorn

    # ws="none": the CDS service has no websocket, and loading uvicorn's websocket stack only prints deprecations
    server = uvicorn.Server(uvicorn.Config(app, ws="none", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="dari-demo-cds", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise DariError("the demo's CDS service did not start on loopback")
            time.sleep(0.02)
        host, port = sock.getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _fresh_service_db(folder: Path) -> Path:
    """The service's database for this run: a re-run must not mix earlier calls into the windows."""
    from dari.care.inference_audit import audit_key_path

    database = folder / "cds.db"
    wal = [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm")]
    for stale in (database, *wal, audit_key_path(database)):
        stale.unlink(missing_ok=True)
    return database


def replay_through_service(
    care: Path, deployment: Path, hub_db: Path, site_folder: Path, *, patients: int
) -> tuple[Path, str, DriftReplay]:
    """Serve the deployment (gated by the hub) on loopback and replay site-1 unshifted then shifted; db and URL."""
    from dari.care import CdsSettings, IssuerConfig, ServedModel, create_app
    from dari.care.deployment_gate import DeploymentManifest, close_gate, open_gate
    from dari.cdm.store import open_store
    from dari.hub.governance.errors import ForbiddenError
    from dari.monitoring.replay import replay_drift

    database = _fresh_service_db(care)
    pem, jwks = ehr_key(care)
    served = ServedModel.load(deployment)
    gate = open_gate(DeploymentManifest.load(deployment), hub_db=str(hub_db))
    try:
        decision = gate.check()
        if not decision.allowed:
            raise ForbiddenError(f"the demo hub refuses the deployment at {SITE}: {decision.reason}")
        # Bound before the settings are made: the JWT audience is the service's own URL, port included.
        with closing(loopback_socket()) as sock:
            settings = CdsSettings(
                base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
                database=database,
                issuers=(IssuerConfig(iss=EHR_ISSUER, jwks_file=jwks),),
                allow_as_of=True,  # the replay evaluates each patient at their index date in the synthetic past
            )
            app = create_app(settings, served, gate=gate)
            store = open_store(site_folder)
            try:
                with serving(app, sock) as url, httpx.Client(timeout=30.0) as client:
                    replayed = replay_drift(
                        client, url, store, served.spec, patients=patients, key_pem=pem, iss=EHR_ISSUER, kid=EHR_KID
                    )
            finally:
                store.close()
                app.state.feedback_store.close()
                app.state.inference_log.close()
    finally:
        close_gate(gate)
    return database, settings.base_url, replayed


def monitor_and_publish(
    database: Path, deployment: Path, site_folder: Path, hub_db: Path, *, patients: int
) -> tuple[list[MonitoringWindow], str]:
    """One window per replayed stream, outcomes linked from the site's CDM; published to the hub as its steward."""
    from dari.monitoring.check import run_monitoring
    from dari.monitoring.publish import build_publication, ingest_into_hub_store
    from dari.monitoring.reference import load_deployment

    deployed = load_deployment(deployment)
    run = run_monitoring(database, deployed, site=site_folder, calls_per_window=patients)
    publication = build_publication(
        deployed, site_id=run.site_id, policy=run.policy, windows=run.windows, calls=run.calls
    )
    return run.windows, ingest_into_hub_store(publication, str(hub_db), STEWARD)


def windows_table(windows: list[MonitoringWindow]) -> Table:
    """The windows in short: calls, score PSI, the largest input PSI and the alerts that fired."""
    table = Table("window", "calls", "score PSI", "max input PSI", "alerts")
    labels = ("as is / 그대로", "shifted / 고령·신기능 저하")
    for i, w in enumerate(windows):
        score = next((d.psi for d in w.drift if d.name == "score"), None)
        inputs = [d for d in w.drift if d.name != "score" and d.psi is not None]
        worst = max(inputs, key=lambda d: d.psi or 0.0, default=None)
        kinds: dict[str, set[str]] = {}
        for a in w.alerts:
            kinds.setdefault(a.kind, set()).add(a.subject)
        # which inputs drifted is the news; the subject of the other kinds is the kind itself
        alerts = " · ".join(k + (f": {', '.join(sorted(v))}" if k == "input_drift" else "") for k, v in kinds.items())
        style = "bold red" if any(a.severity == "critical" for a in w.alerts) else "yellow"
        table.add_row(
            f"{i + 1} · {labels[i] if i < len(labels) else ''}",
            str(w.activity.calls),
            "–" if score is None else f"{score:.2f}",
            "–" if worst is None or worst.psi is None else f"{worst.psi:.2f} ({worst.name})",
            f"[{style}]{alerts}[/]" if alerts else "none",
        )
    return table


def care_demo(
    out_dir: Path, hub: DemoHub, site_folder: Path, results_file: Path, *, patients: int = STREAM
) -> CareDemo | None:
    """Register, approve, deploy, serve, replay, monitor and publish at site-1; None when site-1 was not validated."""
    from dari.cdm.store import open_store
    from dari.cli.deploy import deploy
    from dari.models import sha256_file
    from dari.models.reference import reference_model_paths
    from dari.monitoring.reference import REFERENCE_FILE, build_reference, load_deployment, save_reference

    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the validation results: {exc}", file=str(results_file)) from None
    if SITE not in (results.get("covered") or []):
        reason = (results.get("sites", {}).get(SITE) or {}).get("reason", "not validated")
        out.print(f"bridge to care skipped: {SITE} has no validation result ({reason}); try more --patients-per-site")
        return None
    paths = reference_model_paths()
    sha = sha256_file(paths.model)
    card = json.loads(paths.card.read_text(encoding="utf-8"))
    report_id = approve_for_site(hub.database, results, sha, card)
    out.print(
        f"bridge to care at {SITE}: {VENDOR} registered {card.get('name')} {card.get('version')} ({sha[:12]}…) and "
        f"submitted the validation as report {report_id}; {APPROVER} approved it for {SITE}"
    )
    folder = out_dir / "deployment" / SITE
    deploy("reference", site=SITE, by=STEWARD, out_dir=folder, db=str(hub.database))  # `dari deploy` itself
    store = open_store(site_folder)
    try:
        reference = build_reference(load_deployment(folder), store)
    finally:
        store.close()
    save_reference(reference, folder / REFERENCE_FILE)
    auroc = reference.performance.auroc
    out.print(
        f"  deployed at {SITE} → {folder}; monitoring reference from its validation cohort: "
        f"{reference.performance.n} patients, AUROC {'n/a' if auroc is None else f'{auroc:.3f}'}"
    )
    care = out_dir / "care"
    care.mkdir(parents=True, exist_ok=True)
    database, url, replayed = replay_through_service(care, folder, hub.database, site_folder, patients=patients)
    calls = [*replayed.unshifted, *replayed.shifted]
    statuses = Counter(r.status for r in calls)
    out.print(
        f"  CDS Hooks service at {url} (gated by the hub): the test EHR replayed {patients} {SITE} patients as they "
        f"are, then {patients} ten years older with eGFR halfway to 30 — "
        + ", ".join(f"HTTP {code}: {n}" for code, n in sorted(statuses.items()))
        + f", median {median(r.latency_ms for r in calls):.1f} ms"
    )
    windows, publication_id = monitor_and_publish(database, folder, site_folder, hub.database, patients=patients)
    out.print(windows_table(windows))
    fired = sum(len(w.alerts) for w in windows)
    out.print(f"  published to the hub by {STEWARD} ({publication_id}): {len(windows)} windows, {fired} alerts")
    return CareDemo(folder, sha, report_id, windows, publication_id, f"{PORTAL}/monitoring/{sha}/{SITE}")
