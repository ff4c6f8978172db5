"""Helpers shared by the ETL tests: reading and rewriting extract files, snapshotting a site folder."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

SEED = 7
PATIENTS_PER_SITE = 400
EGFR_LOINC = "98979-8"
OUTCOME_CUTOFF = "2024-12-31"


def manifest_of(site: Path) -> dict[str, object]:
    """The site's manifest.json as a dict."""
    data: dict[str, object] = json.loads((site / "extract" / "manifest.json").read_text(encoding="utf-8"))
    return data


def encoding_of(site: Path) -> str:
    """The encoding the site's manifest declares."""
    return str(manifest_of(site)["encoding"])


def read_table(site: Path, name: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and data rows of `extract/<name>.csv`, decoded with the site's declared encoding."""
    text = (site / "extract" / f"{name}.csv").read_bytes().decode(encoding_of(site))
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def write_table(site: Path, name: str, header: list[str], rows: list[dict[str, str]]) -> None:
    """Rewrite `extract/<name>.csv` in the site's declared encoding (one physical line per row), and reseal
    the manifest: these tests play a hospital whose own export is faulty, not someone altering it afterwards."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=header, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (site / "extract" / f"{name}.csv").write_bytes(buf.getvalue().encode(encoding_of(site)))
    reseal(site, name, rows=len(rows))


def reseal(site: Path, name: str, *, rows: int | None = None) -> None:
    """Make manifest.json vouch for the current bytes of `extract/<name>.csv` (and its row count, if given)."""
    path = site / "extract" / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    entry = data["files"][name]
    entry["sha256"] = hashlib.sha256((site / "extract" / f"{name}.csv").read_bytes()).hexdigest()
    if rows is not None:
        entry["rows"] = rows
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file under `folder` (hidden files included)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftover_temp_files(site: Path) -> list[str]:
    """Temporary files an interrupted CDM write would leave in the site folder."""
    return sorted(p.name for p in site.glob(".cdm.duckdb.*"))
