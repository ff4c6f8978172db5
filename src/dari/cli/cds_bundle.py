"""`dari cds bundle …`: signed offline bundles of a deployed model, scored by the same runner a device uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from dari.cli.console import OutputFormat, err, guarded
from dari.errors import InputError

app = typer.Typer(help="Signed offline bundles of a deployed model (clinics without a network).", no_args_is_help=True)

PublicKeyOption = Annotated[
    Path | None,
    typer.Option("--public-key", dir_okay=False, help="Publisher's Ed25519 public key (PEM) to trust."),
]
FingerprintOption = Annotated[
    str | None,
    typer.Option("--fingerprint", help="Or: SHA-256 fingerprint of the publisher key to trust (the bundle's key)."),
]


def _trusted(public_key: Path | None, fingerprint: str | None) -> None:
    if (public_key is None) == (fingerprint is None):
        raise typer.BadParameter("give exactly one of --public-key or --fingerprint: the key this device trusts")


@app.command("keygen")
def bundle_keygen(
    private: Annotated[Path, typer.Argument(help="Ed25519 private key to create (mode 600).")],
    public: Annotated[Path, typer.Argument(help="Matching public key for the devices.")],
) -> None:
    """Create the publisher's signing key pair and print the public key's fingerprint."""
    from dari.care.bundle import create_signing_key

    with guarded():
        fingerprint = create_signing_key(private, public)
    err.print(f"signing key {private} (keep it off the devices), public key {public}")
    typer.echo(f"sha256:{fingerprint}")


@app.command("export")
def bundle_export(
    deployment: Annotated[Path, typer.Argument(help="Deployment folder written by `dari deploy`.")],
    key: Annotated[Path, typer.Option(help="Ed25519 private signing key (PEM).")],
    out: Annotated[Path, typer.Option(help="Bundle file to write.")],
    warning: Annotated[float, typer.Option(help="Probability from which the indicator is 'warning'.")] = 0.20,
    critical: Annotated[float, typer.Option(help="Probability from which the indicator is 'critical'.")] = 0.40,
) -> None:
    """Sign a deployed model, with its runner and card thresholds, into an offline bundle."""
    from pydantic import ValidationError

    from dari.care.bundle import export_bundle, publisher_fingerprint
    from dari.care.settings import RiskThresholds

    with guarded():
        try:
            thresholds = RiskThresholds(warning=warning, critical=critical)
        except ValidationError as exc:
            raise InputError(f"thresholds: {exc.errors()[0]['msg']}", column="--warning/--critical") from None
        export_bundle(deployment, key, out, thresholds=thresholds)
        publisher = publisher_fingerprint(key)
    err.print(f"bundle {out} signed; devices trust publisher key sha256:{publisher}")


@app.command("verify")
def bundle_verify(
    bundle: Annotated[Path, typer.Argument(help="Bundle file.")],
    public_key: PublicKeyOption = None,
    fingerprint: FingerprintOption = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Check a bundle's publisher key, signature and every file's hash, without loading the model."""
    from dari.care.bundle import verified_bundle
    from dari.care.bundle_runner import verify_summary

    _trusted(public_key, fingerprint)
    with guarded():
        summary = verify_summary(verified_bundle(bundle, public_key, fingerprint=fingerprint))
    if output == "json":
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"verified: publisher sha256:{summary['publisher_fingerprint']}, signed {summary['signed_at']}")


@app.command("score")
def bundle_score(
    bundle: Annotated[Path, typer.Argument(help="Bundle file.")],
    inputs: Annotated[Path, typer.Option(help="JSON object of one patient's feature values ('-': stdin).")],
    public_key: PublicKeyOption = None,
    fingerprint: FingerprintOption = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
    locale: Annotated[Literal["ko", "en"], typer.Option(help="Language of the table output.")] = "ko",
) -> None:
    """Verify the bundle, then score one patient with ONNX Runtime (the device's runner, no network)."""
    from dari.care import bundle_runner as runner
    from dari.care.bundle import verified_bundle

    _trusted(public_key, fingerprint)
    with guarded():
        verified = verified_bundle(bundle, public_key, fingerprint=fingerprint)
        try:
            raw = runner.read_inputs(inputs)
            model = runner.open_model(verified)
            result = runner.score(model, raw)
        except runner.InputsRefusedError as exc:
            raise InputError(str(exc), file=str(inputs)) from None
        except runner.UsageError as exc:
            raise InputError(str(exc)) from None
        except runner.RunnerError as exc:  # BundleRefusedError from the spec or the model
            from dari.care.bundle import BundleError

            raise BundleError(str(exc), file=str(bundle)) from None
    if output == "json":
        typer.echo(json.dumps(runner.result_json(model, result), ensure_ascii=False))
    else:
        typer.echo(runner.render_text(model, result, locale=locale))


@app.command("runner")
def bundle_runner_file(
    out: Annotated[Path, typer.Argument(help="Where to write run_bundle.py.")],
) -> None:
    """Write this dari's standalone runner (a trusted copy for devices; the bundle carries the same file)."""
    import hashlib

    from dari.atomic import atomic_path
    from dari.care.bundle import runner_source

    source = runner_source()
    with guarded(), atomic_path(out) as tmp:
        tmp.write_bytes(source)
        tmp.chmod(0o644)
    typer.echo(f"sha256:{hashlib.sha256(source).hexdigest()}  {out}")
