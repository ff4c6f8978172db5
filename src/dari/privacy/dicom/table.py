"""PS3.15 Table E.1-1 as data (data/table_e1_1.csv, the standard's 2024b edition), and how its codes resolve.

The CSV keeps the standard's codes as written (D, Z, X, K, C, U and combinations such as X/Z/D) in the
`basic` column and in one column per option; `resolve` turns a combination into the one action dari
applies. Where the source and version come from is in data/table_e1_1.source.json.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Action = Literal["X", "Z", "D", "K", "C", "U"]
CODES = {"X", "Z", "D", "K", "C", "U"}
OPTION_COLUMNS = (
    "retain_safe_private",
    "retain_uids",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_patient_characteristics",
    "retain_long_full_dates",
    "retain_long_modified_dates",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
)
COLUMNS = ("tag", "keyword", "name", "in_std_iod", "basic", *OPTION_COLUMNS)
TABLE_FILE = "table_e1_1.csv"
ADDITIONS_FILE = "dari_additions.csv"
# Rows of the table that name a pattern of tags rather than one tag.
CURVE, OVERLAY_DATA, OVERLAY_COMMENTS, PRIVATE = "50XXXXXX", "60XX3000", "60XX4000", "GGGGEEEE"
PATTERNS = (CURVE, OVERLAY_DATA, OVERLAY_COMMENTS, PRIVATE)


@dataclass(frozen=True)
class Rule:
    """One row of the table: the Basic Profile code and the code of each option (empty: the basic code)."""

    tag: str
    keyword: str
    name: str
    basic: str
    options: dict[str, str]

    @property
    def modified_dates(self) -> str:
        """The Retain Longitudinal Temporal Information with Modified Dates code ('C' or empty)."""
        return self.options.get("retain_long_modified_dates", "")

    @property
    def clean_descriptors(self) -> str:
        """The Clean Descriptors code ('C' or empty)."""
        return self.options.get("clean_descriptors", "")


def resolve(code: str) -> Action:
    """The single action dari applies for a (possibly combined) code such as 'X/Z/D' or 'X/Z/U*'.

    PS3.15 E.1.1: X/Z is "X unless Z is required to maintain IOD conformance", X/D and X/Z/D likewise with D,
    Z/D "Z unless D is required", X/Z/U* "X unless Z or replacement of contained instance UIDs is required".
    dari does not know which IOD and which module a file's attribute belongs to, so it takes the alternative
    that is conformant whatever the attribute's type there: the attribute stays present (Z or D; U for a
    reference sequence) and carries nothing identifying. Removal would break a Type 1 or 2 attribute;
    an empty value is allowed for Type 2 and 3, so Z beats D wherever Z is offered.
    """
    parts = {p.rstrip("*") for p in code.split("/")}
    if not parts or not parts <= CODES:
        raise ValueError(f"unknown action code {code!r}")
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


def _read(name: str) -> list[Rule]:
    text = resources.files("dari.privacy.dicom").joinpath("data", name).read_text(encoding="utf-8")
    rules = []
    for i, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        if tuple(row) != COLUMNS:
            raise ValueError(f"{name} line {i}: columns must be {COLUMNS}")
        rule = Rule(
            tag=row["tag"],
            keyword=row["keyword"],
            name=row["name"],
            basic=row["basic"],
            options={c: row[c] for c in OPTION_COLUMNS if row[c]},
        )
        resolve(rule.basic)  # fail at load time on a typo in the shipped data, not mid-run
        for value in rule.options.values():
            resolve(value)
        if rule.tag not in PATTERNS:
            parse_tag(rule.tag)
        rules.append(rule)
    return rules


@cache
def table_rows() -> tuple[Rule, ...]:
    """Every row of the shipped Table E.1-1, the pattern rows (curves, overlays, private) included."""
    return tuple(_read(TABLE_FILE))


@cache
def load_rules() -> dict[int, Rule]:
    """The rules for single tags (the table's, then dari's additions), keyed by tag."""
    rules = {parse_tag(r.tag): r for r in table_rows() if r.tag not in PATTERNS}
    for rule in _read(ADDITIONS_FILE):
        rules.setdefault(parse_tag(rule.tag), rule)
    return rules


def pattern_rule(tag: int) -> Rule | None:
    """The pattern row that covers `tag` (curve group 50xx, overlay data/comments 60xx, private), if any."""
    group, element = tag >> 16, tag & 0xFFFF
    name = None
    if group & 1:
        name = PRIVATE
    elif group & 0xFF00 == 0x5000:
        name = CURVE
    elif group & 0xFF00 == 0x6000 and element in (0x3000, 0x4000):
        name = OVERLAY_DATA if element == 0x3000 else OVERLAY_COMMENTS
    return next((r for r in table_rows() if r.tag == name), None) if name else None


def source() -> dict[str, object]:
    """Where the shipped table comes from: the standard's edition, the parser and its commit, the row count."""
    text = resources.files("dari.privacy.dicom").joinpath("data", "table_e1_1.source.json").read_text("utf-8")
    data: dict[str, object] = json.loads(text)
    return data
