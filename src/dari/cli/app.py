"""The `dari` command: wires the sub-commands together and nothing else."""

from __future__ import annotations

import typer

app = typer.Typer(help="dari (다리): hospital data to routine use of medical AI.", no_args_is_help=True)


def main() -> None:
    """Entry point of the `dari` console script."""
    app()
