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
}


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
        """The command, loaded on first use."""
        if cmd_name in COMMANDS:
            return load_command(cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    cls=LazyGroup,
    help="dari (다리): hospital data to routine use of medical AI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
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
