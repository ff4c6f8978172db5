"""`dari airlock`: the research pods' airlock — the automatic output checks, and the site's pull/run and push
against the hub (its steward's token in DARI_HUB_TOKEN or --token-file, never on the command line)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dari.cli.console import OutputFormat, guarded, out
from dari.cli.hub_auth import TokenFileOption, read_credentials
from dari.errors import InputError

if TYPE_CHECKING:
    from dari.pods.airlock_site import SitePodOutcome

app = typer.Typer(
    help="The research pods' airlock: automatic output checks; the site pulls and runs pods, and sends only "
    "outputs two checkers approved.",
    no_args_is_help=True,
)
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table (human) or json (machines).")]
SiteOption = Annotated[Path, typer.Option("--site", help="The site folder (its CDM, pod runs and audit).")]
HubUrlOption = Annotated[str, typer.Option("--hub-url", help="The hub's URL (https, or http on loopback).")]


def _token(token_file: Path | None) -> str:
    token = read_credentials(None, token_file).token
    if token is None:
        raise InputError("the site steward's hub API token is needed: --token-file or DARI_HUB_TOKEN")
    return token


def _print(outcomes: list[SitePodOutcome], output_format: OutputFormat, title: str) -> None:
    if output_format == "json":
        print(json.dumps([o.model_dump(mode="json") for o in outcomes], ensure_ascii=False, indent=2))
        return
    table = Table(title=title)
    for column in ("pod", "status", "run", "files", "reason"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(o.pod_id, o.status, o.run_id or "", ", ".join(o.files), o.reason)
    out.print(table)


@app.command()
def check(
    outputs: Annotated[Path, typer.Argument(help="A folder of outputs (a run's outputs/, or your own).")],
    min_cell: Annotated[int, typer.Option(help="The site's minimum cell size.", min=1)] = 10,
    cohort: Annotated[int | None, typer.Option(help="Persons in the pod's view (row-level check).", min=1)] = None,
    output_format: FormatOption = "table",
) -> None:
    """Run the airlock's automatic checks on a folder of outputs; exit 1 if a blocking rule fired."""
    with guarded():
        from dari.disclosure import DisclosureRules
        from dari.pods.output_check import check_outputs

        if not outputs.is_dir():
            raise InputError("not a folder", file=str(outputs))
        report = check_outputs(outputs, rules=DisclosureRules(min_cell=min_cell), cohort_size=cohort)
    if output_format == "json":
        print(report.model_dump_json(indent=2))
    else:
        table = Table(title=f"Airlock checks of {outputs}")
        for column in ("file", "type", "rule", "severity", "where", "message"):
            table.add_column(column)
        for f in report.files:
            if not f.findings:
                table.add_row(f.name, f.kind or "?", "", "", "", "no findings")
            for x in f.findings:
                where = ", ".join(p for p in (f"row {x.row}" if x.row else "", x.column or "", x.detail) if p)
                table.add_row(f.name, f.kind or "?", x.rule, x.severity, where, x.message_en)
        out.print(table)
    if any(f.blocked for f in report.files):
        raise typer.Exit(1)


@app.command()
def pull(
    site: SiteOption,
    site_id: Annotated[str, typer.Option(help="This site's id.")],
    hub_url: HubUrlOption,
    hub_public_key: Annotated[Path, typer.Option(help="PEM of the hub key this site trusts.", dir_okay=False)],
    dataset_id: Annotated[str, typer.Option(help="This site's dataset id (default <site-id>-cdm).")] = "",
    min_cell: Annotated[int, typer.Option(help="The site's minimum cell size (its disclosure floor).", min=1)] = 10,
    wall_s: Annotated[float, typer.Option(help="Wall-clock seconds before a pod is killed.", min=1)] = 3600,
    token_file: TokenFileOption = None,
    output_format: FormatOption = "table",
) -> None:
    """Pull the pods submitted for this site, run each through the site guard, check and hold outputs, report."""
    with guarded():
        from dari.disclosure import DisclosureRules
        from dari.pods.airlock_site import pull_and_run
        from dari.pods.models import PodLimits

        try:
            pem = hub_public_key.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the hub's public key: {exc}", file=str(hub_public_key)) from None
        outcomes = pull_and_run(
            site,
            site_id=site_id,
            hub_url=hub_url,
            token=_token(token_file),
            hub_public_key=pem,
            dataset_id=dataset_id,
            floor=DisclosureRules(min_cell=min_cell),
            limits=PodLimits(wall_s=wall_s, cpu_s=int(wall_s) + 1),
        )
    _print(outcomes, output_format, f"Pods pulled at {site_id}")


@app.command()
def push(
    site: SiteOption, hub_url: HubUrlOption, token_file: TokenFileOption = None, output_format: FormatOption = "table"
) -> None:
    """Send the approved, unblocked outputs of every approved run; keep rejected runs' outputs at the site."""
    with guarded():
        from dari.pods.airlock_site import push_decisions

        outcomes = push_decisions(site, hub_url=hub_url, token=_token(token_file))
    _print(outcomes, output_format, "Airlock decisions carried out")
