"""The `dari` command: wires the sub-commands together and nothing else."""

from __future__ import annotations

import importlib
import sys

import click
import typer
from typer.core import TyperGroup

from dari import __version__

# Sub-command → (module, attribute): a function is one command, a Typer a group. Modules are imported only when
# their command runs (or `--help` lists them): importing every sub-command's dependencies (pandas, SQLAlchemy,
# the synthetic generator …) made each `dari` start take about 3 s, and every `dari cds serve` worker process,
# which re-imports the console script, paid it again.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("dari.cli.synth", "synth"),
    "demo": ("dari.cli.demo", "demo"),
    "deploy": ("dari.cli.deploy", "deploy"),
    "validate": ("dari.cli.validate", "validate"),
    "train": ("dari.cli.train", "train"),
    "report": ("dari.cli.report", "report"),
    "feasibility": ("dari.cli.query", "feasibility"),
    "table-one": ("dari.cli.query", "characterise_cohort"),
    "site": ("dari.cli.site", "app"),
    "cdm": ("dari.cli.cdm", "app"),
    "cohort": ("dari.cli.cohort", "app"),
    "privacy": ("dari.cli.privacy", "app"),
    "econ": ("dari.cli.econ", "app"),
    "hub": ("dari.cli.hub", "app"),
    "audit": ("dari.cli.hub", "audit_app"),
    "cds": ("dari.cli.cds", "app"),
    "monitor": ("dari.cli.monitor", "app"),
    "pod": ("dari.cli.pod", "app"),
    "airlock": ("dari.cli.pod_release", "app"),
    "consortium": ("dari.cli.consortium", "app"),
    "imaging": ("dari.cli.imaging", "app"),
    "imaging-gateway": ("dari.cli.imaging_gateway", "app"),
}
# What `dari --help` lists beside each command, so that listing them imports none of their modules (each pulls in
# Flower, DuckDB, matplotlib …: `dari --help` took 7-12 s). tests/cli/test_cli_start.py checks these equal the
# commands' own help.
SUMMARIES: dict[str, str] = {
    "synth": "Generate synthetic hospitals: each a source EMR extract (with identifiers) and its OMOP CDM.",
    "demo": "Build a three-hospital network; pseudonymise each site into its OMOP CDM; check and summarise it.",
    "deploy": "Deploy a model at a site, only if a validation report of it is approved for that site; audited "
    "either way.",
    "validate": "Validate a model across sites with the federated engine; only aggregates leave each site.",
    "train": "Train a model across sites; only guarded model updates leave each site.",
    "report": "Write validation_report.<lang>.html (self-contained) and .pdf; print their paths.",
    "feasibility": "Count a cohort at every site (attrition, sex, age bands) with the federated engine; protected "
    "counts only.",
    "table-one": "Table 1 of a cohort at every site and pooled, with the federated engine; protected figures only.",
    "site": "Work at a hospital's site node (extract → CDM).",
    "cdm": "Inspect and check an OMOP CDM (v5.3 or v5.4) database.",
    "cohort": "Cohort definitions: import from and export to ATLAS (OHDSI Circe JSON).",
    "privacy": "Pseudonymisation keys and de-identification (tables, text, DICOM).",
    "econ": "Economic evaluation: cost-effectiveness, PSA and budget impact.",
    "hub": "The hub: catalog, governance, audit and web portal.",
    "audit": "The hub's tamper-evident audit log.",
    "cds": "CDS Hooks 2.0: serve a model inside the EHR and test it with a replaying client.",
    "monitor": "Monitoring of a deployed model in use: drift, live performance, alerts.",
    "pod": "Research pods: dummy data, and a researcher's code run in the sandbox (locally or at the site).",
    "airlock": "The research pods' airlock: automatic output checks; the site pulls and runs pods, and sends only "
    "outputs two checkers approved.",
    "consortium": "The local consortium: SuperLink and one SuperNode per site on loopback, TLS, node authentication.",
    "imaging": "Imaging: synthetic studies, the site's PACS (Orthanc, DICOMweb, DIMSE), federated validation.",
    "imaging-gateway": "Imaging gateway: new PACS images scored by the deployed model; SR, heatmap, FHIR, priority.",
}
_LISTING = "dari.listing"


def load_command(name: str) -> click.Command:
    """The click command behind `dari NAME`, its module imported now."""
    module, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command: click.Command = typer.main.get_group(target)
    else:
        single = typer.Typer(pretty_exceptions_enable=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """The root group: lists every sub-command, imports one only when asked for it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Sub-commands in the order of `COMMANDS`."""
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, loaded on first use (only its name and summary while the root's help lists it)."""
        if cmd_name in COMMANDS:
            if ctx.meta.get(_LISTING):
                return click.Command(cmd_name, help=SUMMARIES[cmd_name], short_help=SUMMARIES[cmd_name])
            return load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The root's help, listing sub-commands from `SUMMARIES` without importing them."""
        ctx.meta[_LISTING] = True
        try:
            super().format_help(ctx, formatter)
        finally:
            ctx.meta.pop(_LISTING, None)


app = typer.Typer(
    cls=LazyGroup,
    help="dari (다리): hospital data to routine use of medical AI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # The root's help in Click's plain layout: Typer's Rich help imports rich.markdown and markdown-it (about
    # 0.2 s of CPU, over a second on a loaded 2-core machine) for a list of names; sub-commands keep Rich's.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dari {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """dari (다리): hospital data to routine use of medical AI."""
    from dari.cli.quiet import quiet_third_party

    quiet_third_party()


# Options that take several values after one flag, as a shell glob gives them: `--sites data/site-*`.
_MULTI_VALUE_OPTIONS = frozenset({"--sites"})


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """`--sites a b c` → `--sites a --sites b --sites c` (Click options take one value per flag)."""
    expanded: list[str] = []
    current: str | None = None
    for arg in argv:
        if arg in _MULTI_VALUE_OPTIONS:
            current = arg
            expanded.append(arg)
        elif current and not arg.startswith("-") and expanded[-1] != current:
            expanded += [current, arg]
        else:
            if arg.startswith("-"):
                current = None
            expanded.append(arg)
    return expanded


def main() -> None:
    """Entry point of the `dari` console script."""
    app(args=expand_multi_value_options(sys.argv[1:]), prog_name="dari")
