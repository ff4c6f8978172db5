"""Attributes left per PS3.15 profile, dari against dicognito, on every pydicom test file that reads offline.

Usage: .venv/bin/python benchmarks/deid_dicom.py   (dicognito: `uv sync --frozen --group bench`)

Counted at every depth, summed over files, against the shipped Table E.1-1 (2024b):
  removed-left  attributes the profile removes (code X, private, curve 50xx, overlay 60xx) still present
  value-kept    attributes coded Z, D, U or a combination whose original non-empty value is still there
  icon          Icon Image Sequences still present (part of removed-left)
Profiles: "basic" (dates must go as their code says) and "basic+modified-dates" (a date coded C under the
Retain Longitudinal Temporal Information with Modified Dates option may stay if it was shifted; times of day
are not counted, since both tools may keep them under a whole-day shift).
Tools: "dari" (default: modified dates), "dari-basic" (--no-modified-dates), dicognito 0.19 with its defaults.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_files
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dari.privacy.dicom import deidentify_dataset
from dari.privacy.dicom.table import Rule, load_rules, pattern_rule, resolve

KEY = b"benchmark-site-key-0123456789abcdef"
PROFILES = ("basic", "basic+modified-dates")
Tool = Callable[[Dataset], Dataset]


def _files() -> list[tuple[str, Dataset]]:
    found = []
    for path in sorted(get_testdata_files()):
        if not Path(path).is_file():
            continue
        try:
            found.append((Path(path).name, pydicom.dcmread(path)))
        except Exception:  # not DICOM (README, JSON, ICC profiles) or deliberately broken: not a test file here
            continue
    return found


def _walk(ds: Dataset) -> Iterator[DataElement]:
    yield from ds.iterall()


def _values(elem: DataElement) -> set[str]:
    value = elem.value
    if elem.VR == "SQ" or value is None or value == "" or isinstance(value, bytes):
        return set()
    items = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
    return {str(v) for v in items if str(v).strip()}


def _rule(elem: DataElement, rules: dict[int, Rule]) -> Rule | None:
    return rules.get(elem.tag) or pattern_rule(elem.tag)


def _dated(rule: Rule, elem: DataElement, profile: str) -> bool:
    return profile != "basic" and rule.modified_dates == "C" and elem.VR in {"DA", "DT", "TM"}


def count_left(orig: Dataset, out: Dataset, profile: str) -> Counter[str]:
    """removed-left, value-kept and icon counts of one de-identified dataset under one profile."""
    rules, counts = load_rules(), Counter[str]()
    before: dict[int, set[str]] = {}
    for elem in _walk(orig):
        rule = _rule(elem, rules)
        if rule is not None and (resolve(rule.basic) != "X" or _dated(rule, elem, profile)):
            before.setdefault(elem.tag, set()).update(_values(elem))
    for elem in _walk(out):
        rule = _rule(elem, rules)
        overlay = elem.tag.group & 0xFF00 in (0x5000, 0x6000)
        if elem.tag == 0x00880200:
            counts["icon"] += 1
        if overlay or elem.tag.is_private or (rule and resolve(rule.basic) == "X" and not _dated(rule, elem, profile)):
            counts["removed-left"] += 1
        elif _values(elem) & before.get(elem.tag, set()) and not (profile != "basic" and elem.VR == "TM"):
            counts["value-kept"] += 1
    return counts


def _dari(ds: Dataset) -> Dataset:
    return deidentify_dataset(ds, key=KEY, check_pixels=False).dataset


def _dari_basic(ds: Dataset) -> Dataset:
    return deidentify_dataset(ds, key=KEY, check_pixels=False, modified_dates=False).dataset


def _dicognito() -> Tool | None:
    try:
        from dicognito.anonymizer import Anonymizer
    except ImportError:
        return None
    anonymizer = Anonymizer(seed="benchmark")

    def run(ds: Dataset) -> Dataset:
        out = copy.deepcopy(ds)
        anonymizer.anonymize(out)
        return out

    return run


def main() -> None:
    """Run both tools on every readable pydicom test file and print the counts side by side."""
    warnings.simplefilter("ignore")  # pydicom's test files are deliberately odd
    files = _files()
    tools: dict[str, Tool | None] = {"dari": _dari, "dari-basic": _dari_basic, "dicognito": _dicognito()}
    print(f"{len(files)} pydicom {pydicom.__version__} test files that read offline; Table E.1-1 2024b")
    print(f"{'tool':<11} {'profile':<22} {'removed-left':>12} {'value-kept':>10} {'icon':>5} {'files>0':>8} "
          f"{'failed':>6} {'s':>6}")  # fmt: skip
    for name, tool in tools.items():
        if tool is None:
            print(f"{name:<11} not installed (uv sync --frozen --group bench)")
            continue
        totals = {p: Counter[str]() for p in PROFILES}
        dirty = Counter[str]()
        failed, start = 0, time.perf_counter()
        for _, ds in files:
            try:
                out = tool(ds)
            except Exception:  # a tool that crashes on a file leaves it unprocessed: counted apart
                failed += 1
                continue
            for profile in PROFILES:
                counts = count_left(ds, out, profile)
                totals[profile].update(counts)
                dirty[profile] += bool(counts["removed-left"] or counts["value-kept"])
        took = time.perf_counter() - start
        for profile in PROFILES:
            t = totals[profile]
            print(f"{name:<11} {profile:<22} {t['removed-left']:>12} {t['value-kept']:>10} {t['icon']:>5} "
                  f"{dirty[profile]:>8} {failed:>6} {took:>6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
