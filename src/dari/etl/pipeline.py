"""`dari site etl`: a site's extract folder → its OMOP CDM (DuckDB file, or a PostgreSQL schema)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from dari import __version__
from dari.atomic import atomic_path
from dari.cdm.schema import cdm_tables, quote_ident
from dari.cdm.store import SITE_CDM_FILE, copy_duckdb_to_postgres, create_cdm_schema, is_postgres_url
from dari.etl.manifest import ExtractManifest, read_manifest
from dari.etl.reader import RAW_PREFIX, load_extract
from dari.etl.seam import Pseudonymiser, WithholdIdentifiers
from dari.etl.transform import transform
from dari.vocab import shipped_vocabulary

EXTRACT_DIR = "extract"
# DuckDB would take 80 % of RAM by default; a site node shares its machine, and the raw extract of a
# 1,000,000-patient hospital is larger than memory, so the ETL spills to disk beyond this.
ETL_MEMORY_LIMIT = "2GB"
VOCABULARY_VERSION = "dari-ko-en 0.1"
Progress = Callable[[str], None]

# Events whose source rows can fail to reach the CDM (orphans: their patient is not in patients.csv).
_EVENT_SOURCES = {
    "visit_occurrence": "visits",
    "condition_occurrence": "diagnoses",
    "drug_exposure": "prescriptions",
    "measurement": "lab_results",
    "procedure_occurrence": "procedures",
    "note": "clinical_notes",
}
_CONCEPT_FIELDS = {
    "condition_occurrence": "condition_concept_id",
    "drug_exposure": "drug_concept_id",
    "measurement": "measurement_concept_id",
    "procedure_occurrence": "procedure_concept_id",
}


@dataclass
class EtlReport:
    """What one ETL run did, in counts only (this report may leave the site)."""

    site_id: str
    target: str
    pseudonymiser: str
    source_rows: dict[str, int] = field(default_factory=dict)
    cdm_rows: dict[str, int] = field(default_factory=dict)
    dropped_rows: dict[str, int] = field(default_factory=dict)
    unmapped_rows: dict[str, int] = field(default_factory=dict)


def load_vocabulary(con: duckdb.DuckDBPyConnection) -> None:
    """Write the shipped vocabulary into the CDM's vocabulary tables."""
    for name, table in shipped_vocabulary().to_arrow().items():
        cols = ", ".join(quote_ident(c) for c in table.column_names)
        con.register("_vocab_arrow", table)
        con.execute(f"INSERT INTO {quote_ident(name)} ({cols}) SELECT {cols} FROM _vocab_arrow")
        con.unregister("_vocab_arrow")


def _cdm_source(con: duckdb.DuckDBPyConnection, manifest: ExtractManifest) -> None:
    today = date.today()
    row = pa.table(
        {
            "cdm_source_name": [manifest.hospital.get("en", manifest.site_id)],
            "cdm_source_abbreviation": [manifest.site_id[:25]],
            "cdm_holder": [manifest.hospital.get("ko", manifest.site_id)],
            "source_description": ["EMR extract converted by dari"],
            "source_documentation_reference": [None],
            "cdm_etl_reference": [f"dari {__version__}"],
            "source_release_date": [today],
            "cdm_release_date": [today],
            "cdm_version": ["v5.4"],
            "cdm_version_concept_id": [_concept_id(con, "dari-local", "CDM v5.4.0")],
            "vocabulary_version": [VOCABULARY_VERSION],
        }
    )
    con.register("_cdm_source", row)
    con.execute("INSERT INTO cdm_source SELECT * FROM _cdm_source")
    con.unregister("_cdm_source")


def _concept_id(con: duckdb.DuckDBPyConnection, vocabulary: str, code: str) -> int:
    row = con.execute(
        "SELECT concept_id FROM concept WHERE vocabulary_id = ? AND concept_code = ?", [vocabulary, code]
    ).fetchall()[0]
    return int(row[0]) if row else 0


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchall()[0]
    return int(row[0]) if row else 0


def build_cdm(
    con: duckdb.DuckDBPyConnection,
    extract: Path,
    pseudonymiser: Pseudonymiser,
    report: EtlReport,
    progress: Progress,
) -> ExtractManifest:
    """Fill an empty database with the CDM of one extract; counts go into `report`."""
    manifest = read_manifest(extract)
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{ETL_MEMORY_LIMIT}'")
    create_cdm_schema(con)
    progress("vocabulary")
    load_vocabulary(con)
    progress("reading extract")
    with tempfile.TemporaryDirectory(prefix="dari-etl-") as scratch:
        report.source_rows = load_extract(con, extract, manifest, Path(scratch))
    progress("pseudonymisation seam")
    pseudonymiser.build_person_map(con)
    pseudonymiser.build_note_text(con)
    progress("CDM transform")
    transform(con, manifest)
    _cdm_source(con, manifest)
    for table in cdm_tables().values():
        if not table.is_vocabulary:
            report.cdm_rows[table.name] = _count(con, f"SELECT count(*) FROM {quote_ident(table.name)}")
    for cdm_table, src in _EVENT_SOURCES.items():
        report.dropped_rows[src] = report.source_rows[src] - report.cdm_rows[cdm_table]
    for cdm_table, column in _CONCEPT_FIELDS.items():
        report.unmapped_rows[cdm_table] = _count(
            con, f"SELECT count(*) FROM {quote_ident(cdm_table)} WHERE {quote_ident(column)} = 0"
        )
    for name in report.source_rows:
        con.execute(f"DROP TABLE {quote_ident(RAW_PREFIX + name)}")
    con.execute("DROP TABLE IF EXISTS person_map")
    con.execute("DROP TABLE IF EXISTS note_clean")
    return manifest


def run_etl(
    site: Path,
    *,
    target: str | None = None,
    pseudonymiser: Pseudonymiser | None = None,
    progress: Progress | None = None,
) -> EtlReport:
    """ETL `site/extract/` into `site/cdm.duckdb` (or a PostgreSQL URL); nothing is replaced on failure."""
    step = progress or (lambda _msg: None)
    seam = pseudonymiser or WithholdIdentifiers()
    extract = site / EXTRACT_DIR
    destination = target or str(site / SITE_CDM_FILE)
    report = EtlReport(site_id=site.name, target=destination, pseudonymiser=seam.name)
    if target is not None and is_postgres_url(target):
        with tempfile.TemporaryDirectory(prefix="dari-etl-") as tmp:
            staging = Path(tmp) / "cdm.duckdb"
            with duckdb.connect(str(staging)) as con:
                manifest = build_cdm(con, extract, seam, report, step)
            step("copying to PostgreSQL")
            copy_duckdb_to_postgres(staging, target)
        report.site_id = manifest.site_id
        report.target = "postgresql (credentials not shown)"
        return report
    with atomic_path(Path(destination)) as tmp_path, duckdb.connect(str(tmp_path)) as con:
        manifest = build_cdm(con, extract, seam, report, step)
        con.execute("CHECKPOINT")
    report.site_id = manifest.site_id
    return report
