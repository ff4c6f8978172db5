"""`dari cdm vocab …`: load an OHDSI Athena vocabulary into a CDM, map a KCD code list through it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dari.cli.console import OutputFormat, err, guarded, out

app = typer.Typer(help="Load and use OHDSI vocabularies (Athena downloads) in a CDM.", no_args_is_help=True)
TargetArg = Annotated[str, typer.Argument(help="Site folder, DuckDB file, or postgresql://…?schema=NAME.")]


@app.command("load")
def load(
    athena_dir: Annotated[Path, typer.Argument(help="Athena download: its folder (CONCEPT.csv, …) or its zip.")],
    target: TargetArg,
    strict: Annotated[
        bool, typer.Option(help="Refuse references to concepts the download lacks (ancestors, languages, metadata).")
    ] = False,
    work_dir: Annotated[
        Path | None, typer.Option(help="Folder for the temporary work database (default: the system's).")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Check every file of an Athena download, then replace the CDM's vocabulary tables in one transaction."""
    from dari.vocab.athena_load import load_vocabulary_into

    with guarded():
        result = load_vocabulary_into(target, athena_dir, strict=strict, work_dir=work_dir)
    if output == "json":
        typer.echo(result.to_json())
        return
    release = f" (Athena {result.version})" if result.version else ""
    table = Table(title=f"Vocabulary{release} loaded", caption=result.target)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in result.rows.items():
        table.add_row(name, f"{n:,}" + (" (file absent)" if name in result.absent else ""))
    out.print(table)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)


@app.command("map-kcd")
def map_kcd(
    kcd_file: Annotated[Path, typer.Argument(help="KCD code list (CSV, UTF-8 or CP949).")],
    target: TargetArg,
    code_column: Annotated[str, typer.Option(help="Column holding the code.")] = "상병기호",
    delimiter: Annotated[str, typer.Option(help="Field delimiter of the file.")] = ",",
    parent_fallback: Annotated[
        bool, typer.Option(help="Map a code the vocabulary lacks through its nearest parent code (reported as such).")
    ] = False,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Map each KCD code through the CDM's own vocabulary (KCD7, ICD10, ICD10CM 'Maps to'); unmapped codes listed."""
    from dari.cdm.store import open_store
    from dari.vocab.kcd_cdm import map_kcd_file

    with guarded():
        store = open_store(target)
        try:
            result = map_kcd_file(kcd_file, store, code_column=code_column, delimiter=delimiter,
                                  parent_fallback=parent_fallback)  # fmt: skip
        finally:
            store.close()
    if output == "json":
        typer.echo(result.to_json())
        return
    table = Table(title="KCD codes mapped", caption=f"through the vocabulary of {store.label}")
    table.add_column("code")
    table.add_column("source concept", justify="right")
    table.add_column("standard concepts")
    table.add_column("via")
    for m in result.mapped:
        table.add_row(m.code, str(m.source_concept_id), ", ".join(str(t) for t in m.target_concept_ids), m.via)
    out.print(table)
    if result.unmapped:
        err.print(f"[yellow]{len(result.unmapped)} codes have no mapping:[/] {', '.join(result.unmapped)}")
