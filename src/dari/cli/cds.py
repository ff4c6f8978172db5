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
        str, typer.Option(help="'reference' or a folder with model.onnx, features.json, model_card.json.")
    ] = "reference",
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
) -> None:
    """Serve the model's CDS Hooks services with uvicorn (put TLS in front of it for anything but loopback)."""
    import uvicorn

    from dari.care import CdsSettings, ServedModel, create_app
    from dari.care.jwt_auth import load_issuers

    with guarded():
        settings = CdsSettings(
            base_url=base_url or f"http://{host}:{port}",
            database=db,
            issuers=load_issuers(jwks_config),
            validation_report_url=validation_report_url,
            allow_as_of=allow_as_of,
        )
        application = create_app(settings, ServedModel.load(model))
    err.print(f"dari CDS Hooks service on {settings.base_url}/cds-services")
    uvicorn.run(application, host=host, port=port, log_level="warning")


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
