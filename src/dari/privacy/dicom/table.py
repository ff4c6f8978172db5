"""The action table of PS3.15 Table E.1-1 as data (data/basic_profile.csv), and how its codes resolve.

The CSV keeps the standard's codes as written (D, Z, X, K, C, U and combinations such as X/Z/D);
`resolve` turns a combination into the one action dari applies, without knowing the IOD.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Action = Literal["X", "Z", "D", "K", "C", "U"]
CODES = {"X", "Z", "D", "K", "C", "U"}
COLUMNS = ("tag", "keyword", "basic", "retain_long_modified_dates", "clean_descriptors")


@dataclass(frozen=True)
class Rule:
    """One row of the table: the Basic Profile code and the codes of the two options dari applies."""

    tag: int
    keyword: str
    basic: str
    modified_dates: str
    clean_descriptors: str


def resolve(code: str) -> Action:
    """The single action dari applies for a (possibly combined) code such as 'X/Z/D' or 'X/Z/U*'."""
    parts = {p.rstrip("*") for p in code.split("/")}
    if not parts or not parts <= CODES:
        raise ValueError(f"unknown action code {code!r}")
    # U first: references must be remapped consistently rather than dropped (X/Z/U* on reference sequences).
    # Then Z before D, then D before X: an empty value carries nothing and is valid for Type 2 and 3
    # attributes, and keeping the attribute present avoids breaking a Type 1/2 requirement of the IOD.
    order: tuple[Action, ...] = ("U", "K", "C", "Z", "D", "X")
    for action in order:
        if action in parts:
            return action
    raise AssertionError("unreachable")  # pragma: no cover


def parse_tag(text: str) -> int:
    """A tag written as 8 hex digits (GGGGEEEE) as an int."""
    if len(text) != 8:
        raise ValueError(f"tag {text!r} is not 8 hex digits")
    return int(text, 16)


@cache
def load_rules() -> dict[int, Rule]:
    """The shipped table, keyed by tag."""
    text = resources.files("dari.privacy.dicom").joinpath("data", "basic_profile.csv").read_text(encoding="utf-8")
    rules: dict[int, Rule] = {}
    for row in csv.DictReader(text.splitlines()):
        rule = Rule(
            tag=parse_tag(row["tag"]),
            keyword=row["keyword"],
            basic=row["basic"],
            modified_dates=row["retain_long_modified_dates"],
            clean_descriptors=row["clean_descriptors"],
        )
        resolve(rule.basic)  # fail at load time on a typo in the shipped data, not mid-run
        rules[rule.tag] = rule
    return rules
