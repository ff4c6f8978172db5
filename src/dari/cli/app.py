"""The `dari` command: wires the sub-commands together and nothing else."""

from __future__ import annotations

import sys

import typer

from dari import __version__
from dari.cli import cdm, cds, demo, deploy, econ, hub, monitor, privacy, query, report, site, synth, validate

app = typer.Typer(
    help="dari (다리): hospital data to routine use of medical AI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("synth")(synth.synth)
app.command("demo")(demo.demo)
app.command("deploy")(deploy.deploy)
app.command("validate")(validate.validate)
app.command("report")(report.report)
app.command("feasibility")(query.feasibility)
app.command("table-one")(query.characterise_cohort)
app.add_typer(site.app, name="site")
app.add_typer(cdm.app, name="cdm")
app.add_typer(privacy.app, name="privacy")
app.add_typer(econ.app, name="econ")
app.add_typer(hub.app, name="hub")
app.add_typer(hub.audit_app, name="audit")
app.add_typer(cds.app, name="cds")
app.add_typer(monitor.app, name="monitor")


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
