"""`dari cds …`: serve a registered model as a CDS Hooks 2.0 service, and replay a CDM site through it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dari.cli.console import OutputFormat, err, guarded, out

app = typer.Typer(help="CDS Hooks 2.0: serve a model inside the EHR and test it with a replaying client.")


@app.command("serve")
def serve(
    jwks_config: Annotated[
        Path, typer.Option("--jwks-config", exists=True, dir_okay=False, help="Trusted issuers and their JWKS (JSON).")
    ],
    model: Annotated[
        str | None,
        typer.Option(
            help="Ungated (development, replay): 'reference' or a folder with model.onnx, features.json, "
            "model_card.json. Default: reference."
        ),
    ] = None,
    deployment: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="Deployment folder written by `dari deploy`: served only while the hub "
            "approves it (needs --hub-db or --hub-url).",
        ),
    ] = None,
    hub_db: Annotated[
        str | None, typer.Option(help="Gate source: the hub store (SQLite file or postgresql:// URL).")
    ] = None,
    hub_url: Annotated[str | None, typer.Option(help="Gate source: the hub's root URL (https; REST API).")] = None,
    hub_token_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="File holding the hub API token (with --hub-url).")
    ] = None,
    gate_cache_s: Annotated[
        float, typer.Option(help="How long a hub answer is kept (seconds); a withdrawal stops scoring within it.")
    ] = 1.0,
    gate_grace_s: Annotated[
        float, typer.Option(help="How long the last yes holds while the hub cannot be asked (seconds).")
    ] = 30.0,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8810,
    base_url: Annotated[
        str | None, typer.Option(help="Public root URL (JWT audience); default http://HOST:PORT.")
    ] = None,
    db: Annotated[Path, typer.Option(help="SQLite file for issued cards and feedback.")] = Path("cds.db"),
    validation_report_url: Annotated[str | None, typer.Option(help="Link to the site's validation report.")] = None,
    allow_as_of: Annotated[
        bool, typer.Option(help="Honour the request's evaluation date (replaying historical data only).")
    ] = False,
    strict_fhir: Annotated[
        bool, typer.Option(help="Also validate each prefetched resource whole with fhir.resources (slower).")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (they share the database; one per core at most).")
    ] = 1,
    cdm: Annotated[
        str | None,
        typer.Option(
            help="Site CDM (folder, cdm.duckdb or postgresql:// URL) whose vocabulary resolves the spec's concept "
            "sets at start, so FHIR codes count as the CDM's do."
        ),
    ] = None,
) -> None:
    """Serve the model's CDS Hooks services with uvicorn (put TLS in front of it for anything but loopback)."""
    import uvicorn

    from dari.care import CdsSettings
    from dari.care.deployment_gate import close_gate
    from dari.care.jwt_auth import load_issuers
    from dari.care.serving import ServeConfig, load_service, serve_workers, serving_app
    from dari.hub.governance.errors import ForbiddenError

    with guarded():
        config = ServeConfig(
            settings=CdsSettings(
                base_url=base_url or f"http://{host}:{port}",
                database=db,
                issuers=load_issuers(jwks_config),
                validation_report_url=validation_report_url,
                allow_as_of=allow_as_of,
                strict_fhir=strict_fhir,
            ),
            model=model,
            deployment=deployment,
            hub_db=hub_db,
            hub_url=hub_url,
            hub_token_file=hub_token_file,
            gate_cache_s=gate_cache_s,
            gate_grace_s=gate_grace_s,
            cdm=cdm,
        )
        service = load_service(config)
        card = service.model.card
        if cdm is not None:
            sizes = ", ".join(f"{k} {len(v)} SNOMED codes" for k, v in service.model.site_snomed.items())
            err.print(f"site vocabulary: {sizes}", soft_wrap=True)
            for note in service.model.site_notes:
                err.print(f"  absent at this site: {note}", soft_wrap=True)
        if service.gate is None:
            err.print(
                f"[bold red]NOT GATED[/]: serving {card.name} {card.version} without a deployment: no hub approval is "
                "checked. For development and replay only; in care use --deployment with --hub-db or --hub-url.",
                soft_wrap=True,
            )
        else:
            decision = service.gate.check()
            site = service.gate.site_id
            if decision.answered and not decision.allowed:
                close_gate(service.gate)
                raise ForbiddenError(f"the hub refuses model {card.model_sha256[:12]} at {site}: {decision.reason}")
            state = (
                f"approved under {decision.report_id} by {decision.approver}"
                if decision.allowed
                else f"[bold red]refusing until the hub answers[/] ({decision.reason})"
            )
            err.print(
                f"gated: model {card.model_sha256[:12]} at {site}, {state}; re-checked every {gate_cache_s / 2:g} s, "
                f"a hub answer kept {gate_cache_s:g} s, grace {gate_grace_s:g} s when the hub cannot be asked",
                soft_wrap=True,
            )
    err.print(f"dari CDS Hooks service on {config.settings.base_url}/cds-services ({workers} process(es))")
    if workers == 1:
        try:
            uvicorn.run(serving_app(config, service), host=host, port=port, log_level="warning", access_log=False)
        finally:
            if service.gate is not None:
                close_gate(service.gate)
        return
    # Several processes: each builds the same app from the configuration (and asks the hub itself).
    if service.gate is not None:
        close_gate(service.gate)
    with guarded():
        serve_workers(config, host, port, workers)


@app.command("replay")
def replay(
    service: Annotated[str, typer.Option(help="Root URL of the CDS service (discovery at /cds-services).")],
    site: Annotated[Path, typer.Option(exists=True, help="Site folder or cdm.duckdb to replay patients from.")],
    jwt_key: Annotated[Path, typer.Option("--jwt-key", exists=True, dir_okay=False, help="EHR private key (PEM).")],
    issuer: Annotated[str, typer.Option(help="The EHR's issuer (iss), as the service's JWKS config names it.")],
    kid: Annotated[str, typer.Option(help="Key id in the issuer's JWKS.")] = "ehr-1",
    alg: Annotated[str, typer.Option(help="RS256, RS384, ES256 or ES384.")] = "ES384",
    patients: Annotated[int, typer.Option(min=1, max=100_000, help="How many patients to replay.")] = 10,
    hook: Annotated[str, typer.Option(help="patient-view or order-select.")] = "patient-view",
    locale: Annotated[str | None, typer.Option(help="ko or en (default: the service's).")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Replay a site's patients as FHIR through the hook, with signed JWTs; print cards and latency."""
    import httpx
    from rich.table import Table

    from dari.care.ehr_client import replay as run_replay
    from dari.cdm.store import open_store

    with guarded():
        store = open_store(site)
        try:
            with httpx.Client(timeout=10.0) as client:
                results = run_replay(
                    client,
                    service,
                    store,
                    patients=patients,
                    key_pem=jwt_key.read_bytes(),
                    iss=issuer,
                    kid=kid,
                    alg=alg,
                    hook=hook,
                    locale=locale,
                )
        finally:
            store.close()
    latencies = sorted(r.latency_ms for r in results)
    if output == "json":
        rows = [
            {
                "person_id": r.person_id,
                "as_of": r.as_of.isoformat(),
                "status": r.status,
                "latency_ms": r.latency_ms,
                "body": r.body,
            }
            for r in results
        ]
        out.print_json(json.dumps({"results": rows}, ensure_ascii=False))
        return
    table = Table("person", "as of", "status", "indicator", "summary / reason", "ms")
    for r in results:
        cards = r.body.get("cards") if r.status == 200 else None
        if cards:
            table.add_row(
                str(r.person_id),
                str(r.as_of),
                str(r.status),
                cards[0]["indicator"],
                cards[0]["summary"],
                f"{r.latency_ms:.1f}",
            )
        else:
            reason = r.body.get("message") or (r.body.get("extension") or {}).get("dari-not-applicable", "no card")
            table.add_row(str(r.person_id), str(r.as_of), str(r.status), "", str(reason)[:100], f"{r.latency_ms:.1f}")
    out.print(table)
    if latencies:
        median = latencies[len(latencies) // 2]
        err.print(f"{len(results)} calls, latency median {median:.1f} ms, max {latencies[-1]:.1f} ms")


from dari.cli.cds_bundle import app as bundle_app  # noqa: E402  (the bundle commands live in their own module)

app.add_typer(bundle_app, name="bundle")
