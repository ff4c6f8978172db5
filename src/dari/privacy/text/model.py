"""Result types of the de-identifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

LABELS: tuple[str, ...] = ("PERSON", "RRN", "PHONE", "EMAIL", "ADDRESS", "MRN", "DATE", "AGE")


class Span(NamedTuple):
    """An identifier found in the input: [start, end) character offsets into the INPUT text and its label."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class DeidResult:
    """De-identified text and the spans (offsets into the original input) that were replaced."""

    text: str
    spans: list[Span]
