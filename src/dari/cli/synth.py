"""`dari synth`: generate a synthetic Korean hospital network (extracts + CDMs)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dari.cli.console import OutputFormat, err, guarded, out, progress_bar
from dari.synth.network import DEFAULT_CHUNK, SiteResult, generate_network


def result_rows(results: list[SiteResult]) -> list[dict[str, object]]:
    """Machine-readable summary of a generated network (counts only)."""
    rows: list[dict[str, object]] = []
    for r in results:
        rows.append(
            {
                "site_id": r.profile.site_id,
                "hospital": r.profile.name_en,
                "folder": str(r.folder),
                "encoding": r.profile.encoding,
                "extract_rows": r.extract_rows,
                "cdm_rows": r.etl.cdm_rows if r.etl else {},
                "unmapped_rows": r.etl.unmapped_rows if r.etl else {},
                "ckd_cohort": r.cohort,
                "ckd_progressions": r.outcomes,
            }
        )
    return rows


def render_results(results: list[SiteResult], seconds: float) -> None:
    """Rich summary table of a generated network."""
    table = Table(title=f"Synthetic network ({seconds:.1f} s)")
    for col in ("site", "encoding", "patients", "visits", "diagnoses", "labs", "notes", "CKD G3", "progressed"):
        # no_wrap and short headers: the table must stay readable at 80 columns (CI logs, piped output)
        table.add_column(col, justify="left" if col in ("site", "encoding") else "right", no_wrap=True)
    for r in results:
        x = r.extract_rows
        table.add_row(
            r.profile.site_id,
            r.profile.encoding,
            f"{x.get('patients', 0):,}",
            f"{x.get('visits', 0):,}",
            f"{x.get('diagnoses', 0):,}",
            f"{x.get('lab_results', 0):,}",
            f"{x.get('clinical_notes', 0):,}",
            f"{r.cohort:,}",
            f"{r.outcomes:,}",
        )
    out.print(table)


def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write site-N/ folders into.")] = Path("data"),
    sites: Annotated[int, typer.Option(min=1, max=50, help="Number of hospitals.")] = 3,
    patients_per_site: Annotated[int, typer.Option(min=10, max=3_000_000, help="Patients per hospital.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same network.")] = 7,
    chunk_size: Annotated[
        int, typer.Option(min=1000, help="Patients simulated at once (bounds memory).")
    ] = DEFAULT_CHUNK,
    output: Annotated[OutputFormat, typer.Option("--format", help="table (human) or json (machines).")] = "table",
) -> None:
    """Generate synthetic hospitals: each a source EMR extract (with identifiers) and its OMOP CDM."""
    start = time.perf_counter()
    with guarded(), progress_bar() as bar:
        tasks = {f"site-{i + 1}": bar.add_task(f"site-{i + 1}", total=patients_per_site) for i in range(sites)}
        results = generate_network(
            out_dir,
            sites=sites,
            patients_per_site=patients_per_site,
            seed=seed,
            chunk_size=chunk_size,
            advance=lambda site, n: bar.advance(tasks[site], n),
            on_step=lambda site, msg: bar.update(tasks[site], description=f"{site}: {msg}"),
        )
    seconds = time.perf_counter() - start
    if output == "json":
        typer.echo(json.dumps({"seconds": round(seconds, 2), "sites": result_rows(results)}, ensure_ascii=False))
    else:
        render_results(results, seconds)
        err.print(f"wrote {len(results)} site(s) under {out_dir}/ (extract/, cdm.duckdb, truth/)")
