"""Consoles of the CLI: human output on stdout, diagnostics and progress on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from dari.errors import DariError

# Piped output (CI logs, files) has no terminal width; Rich would assume 80 columns and squeeze the tables.
out = Console() if sys.stdout.isatty() else Console(width=140)
err = Console(stderr=True)
OutputFormat = Literal["table", "json"]


def fail(exc: DariError) -> NoReturn:
    """Print a dari error on stderr and exit with its code."""
    # soft_wrap keeps a long file path on one line; Text keeps brackets in paths from being read as markup
    err.print(Text.assemble(("error: ", "bold red"), str(exc)), soft_wrap=True)
    raise typer.Exit(exc.exit_code)


@contextmanager
def guarded() -> Iterator[None]:
    """Turn dari's own errors into a message and the error's exit code."""
    try:
        yield
    except DariError as exc:
        fail(exc)


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A Rich progress bar on stderr (hidden when stderr is not a terminal and in tests)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        yield bar


def step_printer(prefix: str) -> Callable[[str], None]:
    """A callback printing one step of a long job on stderr."""
    return lambda msg: err.print(f"[dim]{prefix}[/] {msg}")
