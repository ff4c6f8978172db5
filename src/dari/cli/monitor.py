"""`dari monitor …`: watch a deployed model in real use at the site, and publish what may leave it to the hub."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from dari.cli.console import err, guarded, out
from dari.errors import InputError

if TYPE_CHECKING:
    from dari.monitoring.check import MonitoringRun
    from dari.monitoring.publication import MonitoringPublication
    from dari.monitoring.reference import Deployment

app = typer.Typer(help="Monitoring of a deployed model in use: drift, live performance, alerts.", no_args_is_help=True)
ALERT_EXIT = 3  # `check` found an alert

CdsDb = Annotated[Path, typer.Argument(help="The CDS service's SQLite file (`dari cds serve --db`).")]
DeploymentDir = Annotated[Path, typer.Argument(help="Deployment folder (`dari deploy --out`).")]
SiteOpt = Annotated[
    Path | None, typer.Option("--site", help="Site folder or cdm.duckdb: link outcomes from the site's CDM.")
]
PatientMapOpt = Annotated[
    Path | None,
    typer.Option("--patient-map", help="CSV of person_id,fhir_patient_id where the EHR's ids differ from the CDM's."),
]
OutcomesOpt = Annotated[Path | None, typer.Option("--outcomes", help="CSV of hook_instance,outcome (0/1).")]
KeyOpt = Annotated[Path | None, typer.Option("--audit-key", help="The service's audit key (default: beside the db).")]
PolicyOpt = Annotated[Path | None, typer.Option("--policy", help="Monitoring policy JSON (default: the folder's).")]
PerWindowOpt = Annotated[
    int | None, typer.Option("--calls-per-window", min=1, help="Windows of N calls instead of policy.window_days.")
]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="CDM data cut-off YYYY-MM-DD (default: its latest).")]
LangOpt = Annotated[Literal["ko", "en"], typer.Option("--lang", help="Language of the alert messages.")]


@app.command("reference")
def reference(
    site: Annotated[Path, typer.Argument(help="Site folder or cdm.duckdb holding the validation cohort.")],
    deployment: DeploymentDir,
    site_id: Annotated[str | None, typer.Option(help="Site id (default: deployment.json's).")] = None,
    sample_size: Annotated[int, typer.Option(min=100, max=100_000, help="Kept values per input.")] = 5000,
) -> None:
    """Build the monitoring reference (inputs, score, validated performance) into the deployment folder."""
    from dari.cdm.store import open_store
    from dari.monitoring.reference import REFERENCE_FILE, build_reference, load_deployment, save_reference

    with guarded():
        deployed = load_deployment(deployment)
        store = open_store(site)
        try:
            ref = build_reference(deployed, store, site_id=site_id, sample_size=sample_size)
        finally:
            store.close()
        save_reference(ref, deployment / REFERENCE_FILE)
    perf = ref.performance
    auroc = f"{perf.auroc:.3f}" if perf.auroc is not None else "n/a"
    err.print(
        f"reference of {ref.model_name} {ref.model_version} at {ref.site_id}: AUROC {auroc}, {len(ref.inputs)} inputs"
    )
    out.print(str(deployment / REFERENCE_FILE))


def _run(
    cds_db: Path,
    deployment: Path,
    site: Path | None,
    patient_map: Path | None,
    outcomes: Path | None,
    audit_key: Path | None,
    policy: Path | None,
    calls_per_window: int | None,
    as_of: str | None,
) -> tuple[MonitoringRun, Deployment]:
    from dari.monitoring.check import run_monitoring
    from dari.monitoring.reference import load_deployment, load_policy

    try:
        cutoff = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise InputError(f"--as-of must be YYYY-MM-DD, got {as_of!r}") from None
    deployed = load_deployment(deployment)
    run = run_monitoring(
        cds_db,
        deployed,
        site=site,
        patient_map=patient_map,
        outcomes_csv=outcomes,
        key_file=audit_key,
        policy=load_policy(policy) if policy else None,
        calls_per_window=calls_per_window,
        as_of=cutoff,
    )
    return run, deployed


def _fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def render(run: MonitoringRun, lang: Literal["ko", "en"]) -> tuple[Table, Table | None]:
    """The windows table and, when any fired, the alerts table."""
    windows = Table(
        "window",
        "calls",
        "scored",
        "refused",
        "p95 ms",
        "score PSI",
        "max input PSI",
        "outcomes",
        "AUROC",
        "O/E",
        "alerts",
    )
    for w in run.windows:
        inputs = [d for d in w.drift if d.name != "score" and d.psi is not None]
        worst = max(inputs, key=lambda d: d.psi or 0.0, default=None)
        score = next((d for d in w.drift if d.name == "score"), None)
        perf = w.performance
        n_out = "–" if perf is None else ("<suppressed>" if perf.suppressed else str(perf.n))
        windows.add_row(
            f"{w.start:%Y-%m-%d %H:%M} → {w.end:%Y-%m-%d %H:%M}",
            str(w.activity.calls),
            str(w.activity.scored),
            str(sum(w.activity.refused_by_status.values())),
            _fmt(w.activity.latency_p95_ms, 1),
            _fmt(score.psi if score else None),
            f"{_fmt(worst.psi)} ({worst.name})" if worst else "–",
            n_out,
            _fmt(perf.auroc if perf else None, 3),
            _fmt(perf.oe_ratio if perf else None),
            str(len(w.alerts)) if w.alerts else "",
        )
    if not run.alerts:
        return windows, None
    alerts = Table("window", "kind", "severity", "subject", "message")
    for w in run.windows:
        for a in w.alerts:
            style = "bold red" if a.severity == "critical" else "yellow"
            message = a.message_ko if lang == "ko" else a.message_en
            alerts.add_row(f"{w.start:%Y-%m-%d %H:%M}", a.kind, f"[{style}]{a.severity}[/]", a.subject, message)
    return windows, alerts


@app.command("check")
def check(
    cds_db: CdsDb,
    deployment: DeploymentDir,
    site: SiteOpt = None,
    patient_map: PatientMapOpt = None,
    outcomes: OutcomesOpt = None,
    audit_key: KeyOpt = None,
    policy: PolicyOpt = None,
    calls_per_window: PerWindowOpt = None,
    as_of: AsOfOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the windows as JSON (atomic).")] = None,
    lang: LangOpt = "ko",
) -> None:
    """Windows of use with drift, live performance and alerts; exit code 3 when any alert fired."""
    import json

    from dari.atomic import atomic_path

    with guarded():
        run, _deployed = _run(
            cds_db, deployment, site, patient_map, outcomes, audit_key, policy, calls_per_window, as_of
        )
        if json_out is not None:
            doc = {
                "site_id": run.site_id,
                "model_sha256": run.reference.model_sha256,
                "policy": run.policy.model_dump(mode="json"),
                "windows": [w.model_dump(mode="json") for w in run.windows],
            }
            with atomic_path(json_out) as tmp:
                tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    windows, alerts = render(run, lang)
    out.print(windows)
    if run.linkage is not None:
        link = run.linkage
        err.print(
            f"outcomes from the CDM (cut-off {link.as_of}): {len(link.outcomes)} linked, {link.horizon_open} "
            f"awaiting their horizon, {link.not_linked} not found, {link.censored} censored"
        )
    if alerts is not None:
        out.print(alerts)
        raise typer.Exit(ALERT_EXIT)


@app.command("publish")
def publish(
    cds_db: CdsDb,
    deployment: DeploymentDir,
    site: SiteOpt = None,
    patient_map: PatientMapOpt = None,
    outcomes: OutcomesOpt = None,
    audit_key: KeyOpt = None,
    policy: PolicyOpt = None,
    calls_per_window: PerWindowOpt = None,
    as_of: AsOfOpt = None,
    hub_url: Annotated[str | None, typer.Option("--hub-url", help="Hub to POST to (/api/v1/monitoring).")] = None,
    hub_token_file: Annotated[
        Path | None, typer.Option("--hub-token-file", help="File holding the site steward's API token.")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Hub store (SQLite file or postgresql:// URL).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Hub user publishing (with --db).")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the publication JSON here instead.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only windows ending after this date (YYYY-MM-DD, UTC), whole.")
    ] = None,
) -> None:
    """Publish the windows and the inference audit (no identifiers) to the hub, or to a JSON file."""
    from dari.monitoring.publish import build_publication
    from dari.monitoring.publish import since as windows_since

    with guarded():
        if sum(x is not None for x in (hub_url, db, out_file)) != 1:
            raise InputError("give exactly one of --hub-url (with --hub-token-file), --db (with --by) or --out")
        run, deployed = _run(
            cds_db, deployment, site, patient_map, outcomes, audit_key, policy, calls_per_window, as_of
        )
        windows, calls = run.windows, run.calls
        if since is not None:
            windows, calls = windows_since(windows, calls, _utc_day(since))
        publication = build_publication(deployed, site_id=run.site_id, policy=run.policy, windows=windows, calls=calls)
        where = _deliver(publication, hub_url, hub_token_file, db, by, out_file)
    alerts = sum(len(w.alerts) for w in publication.windows)
    err.print(
        f"published {len(publication.windows)} windows, {len(publication.inferences)} calls, {alerts} alerts → {where}"
    )


def _utc_day(text: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
    except ValueError:
        raise InputError(f"--since must be YYYY-MM-DD, got {text!r}") from None


def _deliver(
    publication: MonitoringPublication,
    hub_url: str | None,
    hub_token_file: Path | None,
    db: str | None,
    by: str | None,
    out_file: Path | None,
) -> str:
    """Send the publication where the options say (to a hub in parts within its bounds); where it went."""
    from dari.monitoring.publish import ingest_into_hub_store, post_to_hub, split_publication, write_publication

    if hub_url is not None:
        if hub_token_file is None:
            raise InputError("--hub-url needs --hub-token-file")
        try:
            token = hub_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"cannot read the token: {exc.strerror}", file=str(hub_token_file)) from None
        ids = [post_to_hub(part, hub_url, token) for part in split_publication(publication)]
        return f"{hub_url} (id {', '.join(ids)})"
    if db is not None:
        from dari.cli.hub_auth import proven_user

        if by is None:
            raise InputError("--db needs --by (the hub user publishing)")
        # --by is proven, not trusted: the user's token (--hub-token-file, DARI_HUB_TOKEN) or the store owner's key
        publisher = proven_user(db, by, hub_token_file, "monitor publish")
        ids = [ingest_into_hub_store(part, db, publisher) for part in split_publication(publication)]
        return f"hub store (id {', '.join(ids)})"
    assert out_file is not None  # exactly one target was checked by the caller
    write_publication(publication, out_file)
    return str(out_file)
