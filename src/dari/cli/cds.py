"""`dari cds …`: serve a registered model as a CDS Hooks 2.0 service, and replay a CDM site through it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dari.cli.console import OutputFormat, err, guarded, out
from dari.errors import InputError

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


bundle_app = typer.Typer(help="Signed offline bundles of a deployed model (clinics without a network).")
app.add_typer(bundle_app, name="bundle")


@bundle_app.command("keygen")
def bundle_keygen(
    private: Annotated[Path, typer.Argument(help="Ed25519 private key to create (mode 600).")],
    public: Annotated[Path, typer.Argument(help="Matching public key for the devices.")],
) -> None:
    """Create the publisher's signing key pair."""
    from dari.care.bundle import create_signing_key

    with guarded():
        create_signing_key(private, public)
    err.print(f"signing key {private} (keep it off the devices), public key {public}")


@bundle_app.command("export")
def bundle_export(
    deployment: Annotated[Path, typer.Argument(help="Deployment folder written by `dari deploy`.")],
    key: Annotated[Path, typer.Option(help="Ed25519 private signing key (PEM).")],
    out: Annotated[Path, typer.Option(help="Bundle file to write.")],
) -> None:
    """Sign a deployed model into an offline bundle."""
    from dari.care.bundle import export_bundle

    with guarded():
        export_bundle(deployment, key, out)
    err.print(f"bundle {out} signed")


@bundle_app.command("score")
def bundle_score(
    bundle: Annotated[Path, typer.Argument(help="Bundle file.")],
    public_key: Annotated[Path, typer.Option("--public-key", help="Publisher's Ed25519 public key (PEM).")],
    inputs: Annotated[Path, typer.Option(help="JSON object of the spec's raw values for one patient.")],
) -> None:
    """Verify the bundle's signature, then score one patient with ONNX Runtime (no network)."""
    from dari.care.bundle import load_bundle
    from dari.models import assemble_inputs

    with guarded():
        model, spec, deployment = load_bundle(bundle, public_key)
        try:
            raw = json.loads(inputs.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the inputs: {exc}", file=str(inputs)) from None
        probability = float(model.predict_proba(assemble_inputs(spec, raw))[0])
    typer.echo(json.dumps({"model_sha256": deployment["model_sha256"], "probability": probability}))
