"""`dari cohort …`: convert cohort definitions between ATLAS (OHDSI Circe JSON) and dari's own JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dari.cli.console import err, guarded
from dari.errors import InputError

# The cohort engine (Ibis, DuckDB) is imported inside each command: `dari cohort --help` needs none of it.

app = typer.Typer(help="Cohort definitions: import from and export to ATLAS (OHDSI Circe JSON).", no_args_is_help=True)

InOpt = Annotated[Path, typer.Argument(help="The definition to convert (JSON file).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the result here (default: stdout).")]


def _write(doc: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", file=str(out)) from None
    err.print(f"wrote {out}")


@app.command("import-atlas")
def import_atlas(
    source: InOpt,
    out: OutOpt = None,
    name: Annotated[str | None, typer.Option(help="Cohort name (default: the file's Title or name).")] = None,
) -> None:
    """Import an ATLAS cohort expression; refuse, naming the JSON path, what dari cannot run identically."""
    from dari.cohort.circe import load_circe

    with guarded():
        definition = load_circe(source, name=name)
        _write(definition.model_dump(mode="json"), out)


@app.command("export-atlas")
def export_atlas(
    source: InOpt,
    out: OutOpt = None,
    cdm: Annotated[
        str | None,
        typer.Option(help="CDM (DuckDB file or postgresql://…?schema=) whose concept table gives the concept ids."),
    ] = None,
) -> None:
    """Export a dari cohort definition as an ATLAS cohort expression (concept ids from --cdm, else null)."""
    from dari.cdm.store import open_store
    from dari.cohort.circe_export import export_circe, site_concept_ids
    from dari.cohort.definition import load_definition

    with guarded():
        definition = load_definition(source)
        ids: dict[tuple[str, str], int] = {}
        if cdm is not None:
            store = open_store(cdm)
            try:
                ids = site_concept_ids(store, definition)
            finally:
                store.close()
        _write(export_circe(definition, ids), out)
