"""`dari deploy` and `dari hub model|report|deployment …`: the gate between a validated model and a site's care."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from dari.cli.console import err, guarded, out
from dari.cli.hub_auth import ByOption, TokenFileOption, governed
from dari.errors import InputError

model_app = typer.Typer(help="The hub's model registry.", no_args_is_help=True)
report_app = typer.Typer(help="Multicenter validation reports of registered models.", no_args_is_help=True)
deployment_app = typer.Typer(help="Site approvals of validation reports for use in care.", no_args_is_help=True)
DbOption = Annotated[
    str, typer.Option("--db", envvar="DARI_HUB_DB", help="Hub store: SQLite file or postgresql:// URL.")
]


def _model_files(model: str, spec: Path | None, card: Path | None) -> tuple[Path, Path | None, Path | None]:
    """The ONNX file, spec and card; 'reference' names the model shipped in the package."""
    if model == "reference":
        from dari.models.reference import reference_model_paths

        paths = reference_model_paths()
        return paths.model, spec or paths.spec, card or paths.card
    path = Path(model)
    if not path.is_file():
        raise InputError("model file not found", file=str(path))
    return path, spec, card


@model_app.command("register")
def register(
    model: Annotated[str, typer.Argument(help="ONNX file, or 'reference'.")],
    card: Annotated[Path | None, typer.Option(help="Model card JSON.")] = None,
    by: ByOption = None,
    token_file: TokenFileOption = None,
    db: DbOption = "hub.db",
) -> None:
    """Register a model by the SHA-256 of its ONNX file, with its card."""
    from dari.hub.governance.cli_actor import require_user
    from dari.hub.governance.deployment import register_model
    from dari.models import sha256_file

    command = "hub model register"
    with guarded():
        path, _spec, card_path = _model_files(model, None, card)
        card_doc = json.loads(card_path.read_text(encoding="utf-8")) if card_path else {}
        with governed(db, by, token_file, command) as (session, actor):
            registered = register_model(session, require_user(actor, command), sha256_file(path), card_doc)
            out.print(registered.sha256)


@report_app.command("submit")
def submit(
    results: Annotated[Path, typer.Argument(help="results.json written by `dari validate`.")],
    model: Annotated[str, typer.Option(help="ONNX file the results validate, or 'reference'.")],
    by: ByOption = None,
    token_file: TokenFileOption = None,
    db: DbOption = "hub.db",
) -> None:
    """Submit a multicenter validation report of a registered model; prints the report id."""
    from dari.hub.governance.cli_actor import require_user
    from dari.hub.governance.deployment import submit_report
    from dari.models import sha256_file

    command = "hub report submit"
    with guarded():
        path, _spec, _card = _model_files(model, None, None)
        try:
            doc = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the results: {exc}", file=str(results)) from None
        with governed(db, by, token_file, command) as (session, actor):
            report = submit_report(session, require_user(actor, command), sha256_file(path), doc)
            out.print(report.id)


@deployment_app.command("approve")
def approve(
    report_id: Annotated[str, typer.Argument()],
    by: ByOption = None,
    token_file: TokenFileOption = None,
    db: DbOption = "hub.db",
) -> None:
    """Approve a validation report for the approver's site."""
    from dari.hub.governance.cli_actor import require_user
    from dari.hub.governance.deployment import approve_deployment

    command = f"hub deployment approve {report_id}"
    with guarded(), governed(db, by, token_file, command) as (session, actor):
        approval = approve_deployment(session, require_user(actor, command), report_id)
        err.print(f"{report_id} approved for {approval.site_id}")


@deployment_app.command("withdraw")
def withdraw(
    report_id: Annotated[str, typer.Argument()],
    site: Annotated[str, typer.Option(help="Site whose approval is withdrawn.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    by: ByOption = None,
    token_file: TokenFileOption = None,
    db: DbOption = "hub.db",
) -> None:
    """Withdraw a site's approval at once."""
    from dari.hub.governance.cli_actor import require_user
    from dari.hub.governance.deployment import withdraw_deployment

    command = f"hub deployment withdraw {report_id}"
    with guarded(), governed(db, by, token_file, command) as (session, actor):
        withdraw_deployment(session, require_user(actor, command), report_id, site, reason)
    err.print(f"approval of {report_id} at {site} withdrawn")


def deploy(
    model: Annotated[str, typer.Argument(help="ONNX file, or 'reference'.")],
    site: Annotated[str, typer.Option(help="Site deploying the model.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Deployment folder (model, spec, card, manifest).")],
    spec: Annotated[Path | None, typer.Option(help="Feature spec (default: the reference model's).")] = None,
    card: Annotated[Path | None, typer.Option(help="Model card (default: the reference model's).")] = None,
    by: ByOption = None,
    token_file: TokenFileOption = None,
    db: DbOption = "hub.db",
) -> None:
    """Deploy a model at a site, only if a validation report of it is approved for that site; audited either way."""
    from dari.atomic import atomic_dir
    from dari.hub.governance.cli_actor import require_user
    from dari.hub.governance.deployment import record_deployment
    from dari.hub.governance.errors import ForbiddenError
    from dari.models import sha256_file

    with guarded():
        path, spec_path, card_path = _model_files(model, spec, card)
        if spec_path is None:
            raise InputError("a feature spec is needed (--spec)")
        sha = sha256_file(path)
        command = f"deploy {site}"
        with governed(db, by, token_file, command) as (session, actor):
            deployer = require_user(actor, command).username
            decision = record_deployment(session, deployer, sha, site)
        if not decision.allowed:
            raise ForbiddenError(f"deployment refused at {site}: {decision.reason}")
        with atomic_dir(out_dir) as tmp:
            shutil.copyfile(path, tmp / "model.onnx")
            shutil.copyfile(spec_path, tmp / "features.json")
            if card_path:
                shutil.copyfile(card_path, tmp / "model_card.json")
            manifest = {
                "model_sha256": sha,
                "site": site,
                "report_id": decision.report_id,
                "approver": decision.approver,
                "deployed_by": deployer,
            }
            (tmp / "deployment.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    err.print(
        f"deployed {sha[:16]}… at {site} under {decision.report_id} (approved by {decision.approver}) → {out_dir}"
    )
