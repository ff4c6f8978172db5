"""`dari consortium up/down/status`: the local consortium, Flower's deployment engine kept up on one machine.

See dari.federation.consortium.local and docs/consortium.md. Flower is imported only when a command runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from dari.cli.console import err, guarded

app = typer.Typer(
    help="The local consortium: SuperLink and one SuperNode per site on loopback, TLS, node authentication.",
    no_args_is_help=True,
)

RunDir = Annotated[
    Path | None,
    typer.Option("--run-dir", help="The consortium's run folder (default $DARI_CONSORTIUM or ~/.dari/consortium)."),
]


@app.command("up")
def up(
    sites: Annotated[list[Path], typer.Option("--sites", help="Site folders (one SuperNode each).")],
    hub_db: Annotated[
        Path | None, typer.Option(help="Hub store whose signing key the sites trust (else synthetic folders only).")
    ] = None,
    min_cell: Annotated[
        int | None, typer.Option(help="The sites' minimum cell (default: each site's floor, 10).", min=1)
    ] = None,
    run_dir: RunDir = None,
) -> None:
    """Start the SuperLink, and a SuperNode with its long-running ClientApp per site folder; jobs then use it."""
    with guarded():
        from dari.federation.consortium.local import describe
        from dari.federation.consortium.local import up as bring_up

        started = time.monotonic()
        state = bring_up(sites, run_dir, hub_db, min_cell=min_cell)
        err.print(f"[green]up[/] {describe(state)} in {time.monotonic() - started:.1f} s; state in {state.run_dir}")


@app.command("down")
def down(run_dir: RunDir = None) -> None:
    """Stop every process of the local consortium."""
    with guarded():
        from dari.federation.consortium.local import read_state, stop

        state = read_state(run_dir)
        if state is None:
            err.print("no local consortium is up there")
            return
        survivors = stop(state)
        if survivors:
            err.print(f"[red]still running[/]: pids {', '.join(map(str, survivors))}")
            raise typer.Exit(1)
        err.print(f"[green]down[/] ({len(state.processes)} processes stopped)")


@app.command("status")
def status(
    run_dir: RunDir = None,
    output_format: Annotated[Literal["text", "json"], typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Show the local consortium: its processes, sites and certificate paths (exit 1 when it is not up)."""
    with guarded():
        from dari.federation.consortium.local import read_state
        from dari.federation.consortium.local import status as describe_status

        state = read_state(run_dir)
        info = describe_status(state) if state is not None else {"up": False}
        if output_format == "json":
            typer.echo(json.dumps(info, indent=2))
        elif state is None:
            typer.echo("no local consortium is up")
        else:
            typer.echo(f"{'up' if info['up'] else 'DOWN'}: SuperLink {info['superlink']} (TLS, CA {info['ca_cert']})")
            for site in state.sites:
                shown = next(s for s in info["sites"] if s["site_id"] == site.site_id)  # type: ignore[attr-defined]
                typer.echo(f"  {site.site_id}: {shown['status']}  {site.folder}")
            for p in info["processes"]:  # type: ignore[attr-defined]
                typer.echo(f"  {p['name']}: pid {p['pid']} {'alive' if p['alive'] else 'EXITED'}  log {p['log']}")
        if not info["up"]:
            raise typer.Exit(1)
