"""`dari site …`: work at one hospital's site node."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dari.cli import site_node
from dari.cli.console import OutputFormat, guarded, out, step_printer

if TYPE_CHECKING:
    from dari.etl.pipeline import EtlReport

# The ETL and pseudonymisation (DuckDB, pyarrow, Kiwi) are imported inside each command, not for `--help`.
app = typer.Typer(help="Work at a hospital's site node (extract → CDM).", no_args_is_help=True)


@app.command("etl")
def etl(
    site: Annotated[
        Path,
        typer.Argument(help="Site folder holding extract/ (with manifest.json).", exists=True, file_okay=False),
    ],
    target: Annotated[
        str | None, typer.Option(help="postgresql://user@host/db?schema=NAME instead of SITE/cdm.duckdb.")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Convert the site's EMR extract into the OMOP CDM v5.4 (atomically: all or nothing)."""
    with guarded():
        from dari.etl.pipeline import run_etl

        report = run_etl(site, target=target, progress=step_printer(site.name))
    _render(report, output)


@app.command("ingest")
def ingest(
    site: Annotated[
        Path, typer.Argument(help="Site folder holding extract/ (with manifest.json).", exists=True, file_okay=False)
    ],
    key_file: Annotated[Path, typer.Option(help="The site's pseudonymisation key (see `dari privacy keygen`).")],
    policy: Annotated[Path | None, typer.Option(help="Pseudonymisation policy (TOML); default: dari's.")] = None,
    target: Annotated[str | None, typer.Option(help="postgresql://…?schema=NAME instead of SITE/cdm.duckdb.")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Extract → pseudonymised → CDM in one run; the record goes to SITE/reports/pseudonymisation.json."""
    with guarded():
        from dari.privacy.ingest import run_ingest

        report, _record = run_ingest(
            site, key_file, policy_file=policy, target=target, progress=step_printer(site.name)
        )
    _render(report, output)


def _render(report: EtlReport, output: str) -> None:
    if output == "json":
        typer.echo(json.dumps(asdict(report), ensure_ascii=False))
        return
    table = Table(title=f"{report.site_id} → {report.target}")
    for col in ("CDM table", "rows"):
        table.add_column(col)
    for name, n in report.cdm_rows.items():
        if n:
            table.add_row(name, f"{n:,}")
    out.print(table)
    dropped = {k: v for k, v in report.dropped_rows.items() if v}
    if dropped:
        out.print(f"[yellow]rows without a known patient, not loaded:[/] {dropped}")
    out.print(f"unmapped (concept 0): {report.unmapped_rows}")


app.command("clientapp-exec")(site_node.clientapp_exec)  # the SuperNode's executor of vetted dari apps
app.command("fab-hash")(site_node.fab_hash)
