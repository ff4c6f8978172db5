"""`dari pod`: research pods — dummy data to develop against, and runs in the sandbox (locally or at the site)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dari.cli.console import OutputFormat, err, guarded, out
from dari.errors import InputError

if TYPE_CHECKING:  # the pod modules (DuckDB, the privacy stack) load only when a command runs
    from dari.federation.flower.grants import GrantChecker
    from dari.pods.models import PodLimits, PodRun

app = typer.Typer(
    help="Research pods: dummy data, and a researcher's code run in the sandbox (locally or at the site).",
    no_args_is_help=True,
)
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table (human) or json (machines).")]


@app.command()
def dummy(
    characterisation: Annotated[
        Path,
        typer.Option(help="The site's published characterisation (or its whole publication) as JSON.", dir_okay=False),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write view/<table>.parquet into.")],
    tables: Annotated[
        str, typer.Option(help="Comma-separated CDM tables the pod needs.")
    ] = "person,observation_period,measurement",
    persons: Annotated[int | None, typer.Option(help="Persons to draw (default: the site's count).", min=1)] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same dummy data.")] = 0,
    output_format: FormatOption = "table",
) -> None:
    """Make schema-identical dummy data from a site's published characterisation (no real rows)."""
    with guarded():
        from dari.pods.dummy import make_dummy, read_characterisation

        names = [t.strip() for t in tables.split(",") if t.strip()]
        rows = make_dummy(read_characterisation(characterisation), names, out_dir, persons=persons, seed=seed)
    if output_format == "json":
        print(json.dumps({"out": str(out_dir), "rows": rows}))
        return
    table = Table(title=f"Dummy data in {out_dir}/view (no real rows)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in rows.items():
        table.add_row(name, f"{n:,}")
    out.print(table)


def _site_grant_checker(
    site: Path, dataset_id: str, hub_store: str | None, hub_url: str | None, hub_key: Path | None, no_gov: bool
) -> tuple[GrantChecker, str | None]:
    """The grant checker and the hub key this site trusts (one of --hub-store, --hub-url, --no-governance)."""
    from dari.federation.flower.grants import HubApiGrantChecker, HubStoreGrantChecker, SyntheticOnlyGrantChecker

    if sum((hub_store is not None, hub_url is not None, no_gov)) != 1:
        raise InputError("give exactly one of --hub-store, --hub-url or --no-governance (synthetic sites only)")
    if no_gov:
        return SyntheticOnlyGrantChecker({dataset_id: site}), None
    if hub_store is not None:
        from dari.federation.ticket import hub_public_pem

        return HubStoreGrantChecker.from_url(hub_store), hub_public_pem(hub_store)
    from dari.cli.hub_auth import read_credentials

    if hub_key is None or hub_url is None:
        raise InputError("--hub-url needs --hub-public-key (the hub key this site trusts)")
    token = read_credentials(None, None).token
    if token is None:
        raise InputError("--hub-url needs the site steward's token in DARI_HUB_TOKEN")
    return HubApiGrantChecker(hub_url, token), hub_key.read_text(encoding="ascii")


@app.command()
def run(
    bundle: Annotated[Path, typer.Argument(help="The pod bundle: a folder or .zip with pod.toml and the code.")],
    local: Annotated[bool, typer.Option("--local", help="Run on dummy data (`dari pod dummy`), no grant.")] = False,
    data: Annotated[Path | None, typer.Option(help="With --local: the `dari pod dummy` folder.")] = None,
    site: Annotated[Path | None, typer.Option(help="At the site: the site folder (its CDM and audit).")] = None,
    request: Annotated[
        Path | None, typer.Option(help="At the site: the hub's pod request (JSON, with its tickets).", dir_okay=False)
    ] = None,
    site_id: Annotated[str | None, typer.Option(help="At the site: this site's id.")] = None,
    dataset_id: Annotated[str, typer.Option(help="This site's dataset id (default <site-id>-cdm).")] = "",
    hub_store: Annotated[str | None, typer.Option(help="The hub store (a node run by the hub operator).")] = None,
    hub_url: Annotated[str | None, typer.Option(help="The hub's URL (token in DARI_HUB_TOKEN).")] = None,
    hub_public_key: Annotated[Path | None, typer.Option(help="PEM of the hub key this site trusts.")] = None,
    no_governance: Annotated[bool, typer.Option(help="No hub: synthetic site folders only.")] = False,
    wall_s: Annotated[float, typer.Option(help="Wall-clock seconds before the pod is killed.", min=1)] = 3600,
    memory_mb: Annotated[int, typer.Option(help="Address space per process, MB.", min=64)] = 8192,
    output_mb: Annotated[int, typer.Option(help="All outputs together, MB.", min=1)] = 512,
    output_format: FormatOption = "table",
) -> None:
    """Run a pod bundle in the sandbox: locally on dummy data, or at the site under a grant; outputs are held."""
    with guarded():
        from dari.pods.models import PodLimits
        from dari.pods.runner import run_bundle

        limits = PodLimits(wall_s=wall_s, cpu_s=int(wall_s) + 1, memory_mb=memory_mb, output_mb=output_mb)
        if local:
            if data is None:
                raise InputError("--local needs --data (a folder made by `dari pod dummy`)")
            result = run_bundle(data, bundle, grant=None, limits=limits, local=True)
        else:
            result = _run_at_site(
                bundle, site, request, site_id, dataset_id, hub_store, hub_url, hub_public_key, no_governance, limits
            )
    if output_format == "json":
        print(result.model_dump_json(indent=2))
    else:
        table = Table(title=f"Pod run {result.run_id} ({'dummy data' if result.local else 'site data'})")
        table.add_column("")
        table.add_column("")
        table.add_row("status", result.status + (f" ({result.stop_reason})" if result.stop_reason else ""))
        table.add_row("exit", str(result.exit_code if result.exit_code is not None else result.signal))
        table.add_row("wall", f"{result.wall_s:.2f} s")
        table.add_row("outputs (held)", f"{len(result.outputs)} files, {result.outputs_bytes:,} bytes")
        table.add_row("view", ", ".join(f"{t} ({n:,})" for t, n in result.view.rows.items()))
        out.print(table)
    if result.status != "ok":
        err.print(f"the pod {result.status}: see {result.stderr_tail} in the run folder")
        raise typer.Exit(1)


def _run_at_site(
    bundle: Path,
    site: Path | None,
    request: Path | None,
    site_id: str | None,
    dataset_id: str,
    hub_store: str | None,
    hub_url: str | None,
    hub_key: Path | None,
    no_gov: bool,
    limits: PodLimits,
) -> PodRun:
    from pydantic import ValidationError

    from dari.disclosure import DisclosureRules
    from dari.federation.guard import GuardRefusedError, SiteBinding, SiteGuard
    from dari.pods.grant import PodGrant, PodGrantError, PodRequest
    from dari.pods.runner import run_bundle

    if site is None or request is None or site_id is None:
        raise InputError("a run at the site needs --site, --request and --site-id (or --local for dummy data)")
    try:
        pod_request = PodRequest.model_validate_json(request.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise InputError(f"not a pod request: {str(exc)[:300]}", file=str(request)) from None
    binding = SiteBinding(site_id=site_id, folder=str(site), dataset_id=dataset_id)
    checker, pem = _site_grant_checker(site, binding.dataset_id, hub_store, hub_url, hub_key, no_gov)
    binding = binding.model_copy(update={"hub_public_key": pem})
    guard = SiteGuard(binding, checker)
    outcome = guard.run(
        pod_request.claim(),
        DisclosureRules(),
        lambda admission: run_bundle(site, bundle, grant=PodGrant.from_request(admission, pod_request), limits=limits),
    )
    if outcome.status == "refused":
        raise PodGrantError(f"refused at {site_id}: {outcome.reason}")
    if outcome.result is None:
        raise GuardRefusedError(f"the pod failed at {site_id}: {outcome.reason}")
    return outcome.result
