"""Exception types shared across dari; each carries the exit code the CLI turns it into."""

from __future__ import annotations


class DariError(Exception):
    """Base class for every error dari raises on purpose."""

    exit_code = 1


class InputError(DariError):
    """Bad input: a file, row or field that cannot be used as given."""

    exit_code = 2

    def __init__(
        self, message: str, *, file: str | None = None, row: int | None = None, column: str | None = None
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        where = [
            f"file {file}" if file else "",
            f"row {row}" if row is not None else "",
            f"column {column!r}" if column else "",
        ]
        located = ", ".join(w for w in where if w)
        super().__init__(f"{located}: {message}" if located else message)


class StoreError(DariError):
    """A CDM store could not be opened, created or written."""

    exit_code = 3


class QualityGateError(DariError):
    """Data-quality checks failed beyond their thresholds."""

    exit_code = 4
