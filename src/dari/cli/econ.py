"""`dari econ …`: cost-effectiveness, uncertainty and budget impact of an AI tool (NECA/HIRA evidence)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dari.atomic import atomic_path
from dari.cli.console import OutputFormat, err, guarded, out, progress_bar
from dari.errors import InputError

app = typer.Typer(help="Economic evaluation: cost-effectiveness, PSA and budget impact.", no_args_is_help=True)
EXAMPLES = ("ckd_ai_screening", "chancellor_hiv", "thr_briggs")
#: Files an example reads (look-up tables), copied beside it.
COMPANIONS = {"thr_briggs": ("thr_life_table.csv",)}


@app.command("run")
def run(
    model: Annotated[Path, typer.Argument(help="Model definition (TOML).", exists=True, dir_okay=False)],
    validation: Annotated[
        Path | None,
        typer.Option(help="Results of `dari validate --json` (dari-validation-results/1) overriding accuracy inputs."),
    ] = None,
    site: Annotated[
        str | None, typer.Option(help="Take the validation figures of this site instead of the model's (pooled).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the report, figures and results.json.")] = Path(
        "econ-report"
    ),
    psa: Annotated[int, typer.Option(help="PSA iterations (0: none).", min=0)] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the PSA's random generator.")] = 7,
    wtp: Annotated[float | None, typer.Option(help="Willingness to pay per QALY; default: the model's.")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
    lang: Annotated[
        str, typer.Option(help="Report languages: ko, en or both (report.html is Korean, report.en.html English).")
    ] = "both",
) -> None:
    """Evaluate MODEL: base case, incremental analysis, one-way SA, PSA, budget impact; write the report."""
    # heavy domain modules load when the command runs, not when `dari` starts
    from dari.econ.analysis import analyse
    from dari.econ.loader import load_model
    from dari.econ.report import render, write
    from dari.econ.validation import apply_validation, load_validation
    from dari.econ.words import Lang

    with guarded():
        choices: dict[str, tuple[Lang, ...]] = {"both": ("ko", "en"), "ko": ("ko",), "en": ("en",)}
        langs = choices.get(lang)
        if langs is None:
            raise InputError(f"--lang must be ko, en or both, got {lang!r}")
        spec = load_model(model)
        if site is not None and validation is None:
            raise InputError("--site needs --validation")
        if validation is not None:
            spec = apply_validation(spec, load_validation(validation), str(validation), site=site)
        if psa:
            with progress_bar() as bar:
                task = bar.add_task("PSA", total=psa)
                result = analyse(spec, wtp=wtp, psa_iterations=psa, seed=seed, progress=lambda k: bar.advance(task, k))
        else:
            result = analyse(spec, wtp=wtp)
        files = render(result, langs)  # everything is built before the first byte is written
        written = write(files, out_dir)
    if output == "json":
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    cur = spec.model.currency
    table = Table(title=f"{spec.model.name} (λ = {result.wtp:,.0f} {cur}/QALY)")
    for col in ("strategy", f"cost ({cur})", "QALY", "LY", "status", f"ICER ({cur}/QALY)"):
        table.add_column(col)
    for r in result.table:
        ly = float(result.base[r.strategy].ly[0])
        icer = "—" if r.icer is None else f"{r.icer:,.0f}"
        table.add_row(r.strategy, f"{r.cost:,.0f}", f"{r.effect:.4f}", f"{ly:.4f}", r.status, icer)
    out.print(table)
    for b in result.budget:
        out.print(f"year {b.year}: budget impact {b.impact:,.0f} {cur}")
    err.print(f"[dim]wrote {len(written)} files to {out_dir}[/]")


@app.command("icers")
def icers(
    costs_effects: Annotated[
        Path, typer.Argument(help="CSV with columns strategy, cost, effect (or qaly).", exists=True, dir_okay=False)
    ],
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Incremental analysis of given strategies: strict and extended dominance, ICERs along the frontier."""
    from dataclasses import asdict

    from dari.econ.icers_file import incremental_table, read_costs_effects

    with guarded():
        rows = incremental_table(*read_costs_effects(costs_effects))
    if output == "json":
        typer.echo(json.dumps({"schema": "dari-econ-icers/1", "rows": [asdict(r) for r in rows]}, ensure_ascii=False))
        return
    table = Table(title=f"Incremental analysis · 증분 분석 ({costs_effects.name})")
    for col in ("strategy", "cost", "effect", "vs", "Δcost", "Δeffect", "ICER", "status"):
        table.add_column(col, justify="left" if col in ("strategy", "vs", "status") else "right")
    for r in rows:
        num = "—" if r.incremental_cost is None else f"{r.incremental_cost:,.2f}"
        eff = "—" if r.incremental_effect is None else f"{r.incremental_effect:,.4f}"
        icer = "—" if r.icer is None else f"{r.icer:,.2f}"
        table.add_row(r.strategy, f"{r.cost:,.2f}", f"{r.effect:,.4f}", r.versus or "—", num, eff, icer, r.status)
    out.print(table)


@app.command("dossier")
def dossier(
    card: Annotated[Path, typer.Option(help="Model card (JSON) of the validated model.", exists=True, dir_okay=False)],
    validation: Annotated[
        Path, typer.Option(help="`dari validate --json` results (dari-validation-results/1).", exists=True)
    ],
    econ: Annotated[Path, typer.Option(help="results.json of `dari econ run`.", exists=True, dir_okay=False)],
    monitoring: Annotated[
        list[Path] | None, typer.Option(help="Monitoring publications (JSON) after deployment; repeat per site.")
    ] = None,
    hospital: Annotated[
        Path | None, typer.Option(help="[hospital] inputs (TOML) for the adopting hospital's budget view.")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for dossier(.en).html and .pdf.")] = Path("dossier"),
) -> None:
    """Bind validation, economic evaluation, model card and real-world evidence into one bilingual dossier."""
    from dari.econ.dossier import assemble, render
    from dari.econ.hospital import load_hospital
    from dari.econ.report import write

    with guarded():
        inputs = load_hospital(hospital) if hospital is not None else None
        bound = assemble(card, validation, econ, monitoring, inputs)
        written = write(render(bound), out_dir)  # rendered in memory first: a failure writes nothing
    out.print(f"dossier of {bound.card.name} {bound.card.version}: {len(bound.sources)} sources bound")
    err.print(f"[dim]wrote {', '.join(p.name for p in written)} to {out_dir}[/]")


@app.command("example")
def example(
    target: Annotated[Path, typer.Argument(help="Where to copy the worked example (TOML).")],
    name: Annotated[str, typer.Option(help=f"Which example: {', '.join(EXAMPLES)}.")] = EXAMPLES[0],
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Copy a shipped example model (default: AI-assisted CKD progression screening) to TARGET."""
    with guarded():
        if name not in EXAMPLES:
            raise InputError(f"unknown example {name!r}; choose from {', '.join(EXAMPLES)}")
        if target.exists() and not force:
            raise InputError("file exists (use --force to overwrite)", file=str(target))
        folder = resources.files("dari.econ") / "examples"
        for extra in COMPANIONS.get(name, ()):
            with atomic_path(target.parent / extra) as tmp:
                tmp.write_bytes((folder / extra).read_bytes())
        with atomic_path(target) as tmp:
            tmp.write_bytes((folder / f"{name}.toml").read_bytes())
    out.print(f"copied {name} → {target}")
