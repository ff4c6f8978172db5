"""`dari cdm …`: inspect and check an OMOP CDM (a site folder, a DuckDB file or a PostgreSQL URL)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from dari.cdm.reference import parse_reference_date
from dari.cdm.schema import ddl
from dari.cdm.store import open_store
from dari.cdm.summary import CdmSummary, summarise
from dari.cli.cdm_vocab import app as vocab_app
from dari.cli.console import OutputFormat, err, guarded, out, progress_bar
from dari.errors import QualityGateError
from dari.quality import render_report, run_checks
from dari.vocab import shipped_vocabulary

app = typer.Typer(help="Inspect and check an OMOP CDM (v5.3 or v5.4) database.", no_args_is_help=True)
app.add_typer(vocab_app, name="vocab")  # cdm_vocab imports its loaders only when a command runs
TargetArg = Annotated[str, typer.Argument(help="Site folder, DuckDB file, or postgresql://…?schema=NAME.")]
ReferenceDateOpt = Annotated[
    str | None,
    typer.Option(
        "--reference-date",
        help="Take ages at this date (YYYY-MM-DD); default: the CDM's last observation_period_end_date.",
    ),
]


@app.command("check")
def check(
    target: TargetArg,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
    fail_under: Annotated[float, typer.Option(min=0, max=100, help="Exit 4 when the score is below this.")] = 0.0,
) -> None:
    """Run the data-quality checks (conformance, completeness, plausibility); counts only, never rows."""
    with guarded():
        store = open_store(target)
        try:
            with progress_bar() as bar:
                task = bar.add_task("checks", total=None)
                report = run_checks(store, progress=lambda done, total: bar.update(task, completed=done, total=total))
        finally:
            store.close()
        err.print(f"[dim]OMOP CDM {report.cdm_version or '(version not declared)'}, checked as {report.checked_as}[/]")
        if output == "json":
            typer.echo(report.to_json())
        else:
            render_report(report, out)
        score = report.summary.overall_score
        if score is not None and score < fail_under:
            raise QualityGateError(f"quality score {score:.1f} is below --fail-under {fail_under:g}")


def render_summary(summary: CdmSummary) -> None:
    """Rich rendering of what one CDM holds."""
    table = Table(title=summary.label)
    table.add_column("what")
    table.add_column("value", justify="right")
    declared = summary.cdm_version or "not declared"
    table.add_row("OMOP CDM version", f"{declared} (read as {summary.checked_as})")
    if summary.version_note:
        err.print(f"[yellow]{summary.version_note}[/]")
    for name, n in summary.rows.items():
        table.add_row(name, f"{n:,}")
    if summary.female_share is not None:
        table.add_row("female", f"{100 * summary.female_share:.1f} %")
    if summary.median_age is not None:
        table.add_row(f"median age (at {summary.reference_date})", f"{summary.median_age:.0f}")
    for race, n in summary.persons_by_race.items():
        table.add_row(f"  race: {race}", f"{n:,}")
    for kind, n in summary.visits_by_kind.items():
        table.add_row(f"  visits: {kind}", f"{n:,}")
    if summary.first_date:
        table.add_row("observed", f"{summary.first_date} … {summary.last_date}")
    vocab = shipped_vocabulary()
    for c in summary.top_conditions:
        # dari's own concepts have a preferred Korean name; other CDMs fall back to a Korean synonym
        ko = vocab.concept(c.concept_id).concept_name_ko if c.concept_id in vocab else c.name_ko
        table.add_row(f"  {ko or ''} / {c.name}", f"{c.persons:,} persons")
    out.print(table)


@app.command("summary")
def summary(
    target: TargetArg,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
    reference: ReferenceDateOpt = None,
) -> None:
    """Show what a CDM holds: version, row counts, demographics, most frequent conditions."""
    with guarded():
        at = parse_reference_date(reference)
        store = open_store(target)
        try:
            result = summarise(store, at=at)
        finally:
            store.close()
    if output == "json":
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        render_summary(result)


@app.command("characterise")
def characterise_cmd(
    target: TargetArg,
    min_cell: Annotated[int, typer.Option(min=1, help="Counts below this are shown as <N.")] = 10,
    rounding_base: Annotated[int, typer.Option(min=1, help="Other counts are rounded to a multiple of this.")] = 5,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
    reference: ReferenceDateOpt = None,
) -> None:
    """What the CDM may tell the hub catalog: age/sex structure and top concepts, disclosure-controlled."""
    from dari.catalog.characterise import characterise
    from dari.disclosure import DisclosureRules

    with guarded():
        at = parse_reference_date(reference)
        store = open_store(target)
        try:
            rules = DisclosureRules(min_cell=min_cell, rounding_base=rounding_base)
            result = characterise(store, rules=rules, at=at)
        finally:
            store.close()
    if output == "json":
        typer.echo(result.to_json())
        return
    table = Table(
        title=f"Characterisation (cells < {min_cell} suppressed, rounded to {rounding_base}; "
        f"ages at {result.reference_date})"
    )
    table.add_column("what")
    table.add_column("persons", justify="right")
    table.add_row("persons", result.persons.shown)
    for row in result.age_sex:
        table.add_row(f"  {row.age_band} {row.sex}", row.persons.shown)
    for domain, concepts in result.top.items():
        for c in concepts:
            table.add_row(f"  {domain}: {c.name}", c.persons.shown)
    out.print(table)


@app.command("describe")
def describe_cmd(
    target: TargetArg,
    identifier: Annotated[str, typer.Option("--id", help="Dataset identifier in the catalog.")] = "site-dataset",
    contact: Annotated[
        str, typer.Option(help="Contact point (e-mail of the data steward's office).")
    ] = "data-steward@example.org",
    reference: ReferenceDateOpt = None,
) -> None:
    """The site's dataset record for the hub catalog as DCAT (HealthDCAT-AP) JSON-LD; counts disclosure-controlled."""
    from dari.catalog.characterise import characterise
    from dari.catalog.dataset import describe

    with guarded():
        at = parse_reference_date(reference)
        store = open_store(target)
        try:
            record = describe(
                store,
                characterise(store, at=at),
                identifier=identifier,
                quality_score=run_checks(store).summary.overall_score,
                contact_point=contact,
            )
        finally:
            store.close()
    typer.echo(record.to_jsonld())


@app.command("ddl")
def show_ddl(
    dialect: Annotated[str, typer.Option(help="duckdb or postgresql.")] = "duckdb",
    schema: Annotated[str | None, typer.Option(help="Schema to qualify table names with.")] = None,
) -> None:
    """Print the OMOP CDM v5.4 DDL for a SQL dialect."""
    if dialect not in ("duckdb", "postgresql"):
        raise typer.BadParameter(f"must be duckdb or postgresql, got {dialect!r}", param_hint="--dialect")
    for statement in ddl(dialect, schema):  # type: ignore[arg-type]
        typer.echo(statement + ";")
    err.print("[dim]OMOP CDM v5.4, 39 tables[/]")
