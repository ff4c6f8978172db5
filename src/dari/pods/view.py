"""The data a pod sees: only the granted tables and columns, k-anonymous persons, de-identified free text.

Built per run as a read-only Parquet folder (`<table>.parquet`, `_view.json`) from the site's pseudonymised CDM:

1. **tables** — those the grant's variables name (`dari.hub.governance.requested_data`), and of those only the
   ones the bundle declares it needs (a bundle asking for a table outside its grant is refused); a variable
   narrowed to a concept set keeps only its concepts' rows (ids resolved at the site, `PodGrant.concept_sets`);
2. **columns** — the CDM v5.4 columns of each table (`dari.cdm.schema`) in DDL order and type, less those a pod
   never needs and that point back to people or places: every `*_source_value` (the person's pseudonym, local
   codes and text as the source held them), provider, care site and location ids, lot numbers, and the month,
   day and time of birth (only the year stays). Columns the site's CDM lacks are NULL, so the schema is the same
   at every site and in `dari pod dummy` data;
3. **persons** — `dari.privacy.risk.enforce_k` on the person quasi-identifiers (year of birth, through 5- and
   10-year bands to suppressed, and sex, to suppressed) to the DRB's target k with at most the grant's share
   suppressed; a suppressed person's rows leave every table; a generalised year of birth is the first year of its
   band; the levels and the information loss go into the run record;
4. **free text** — `sig`, `stop_reason`, `note_title`, `note_text` only after `dari.privacy.text.deidentify`
   with `mode="high-recall"` (identifiers masked as `[LABEL]`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from dari.cdm.schema import Table, cdm_tables, quote_ident
from dari.cdm.store import resolve_duckdb_path
from dari.errors import InputError, StoreError
from dari.hub.governance.requested_data import RequestedVariable
from dari.pods.bundle import canonical_sha256
from dari.pods.grant import PodGrant, PodGrantError
from dari.pods.models import ViewRecord
from dari.privacy.risk import Hierarchy, Level, enforce_k, suppress_only

VIEW_FILE = "_view.json"
FREE_TEXT = frozenset({"sig", "stop_reason", "note_title", "note_text"})
_WITHHELD = frozenset(
    {"provider_id", "care_site_id", "location_id", "lot_number", "month_of_birth", "day_of_birth", "birth_datetime"}
)
#: The column whose concept a concept-set variable narrows each table to.
CONCEPT_COLUMN = {
    "visit_occurrence": "visit_concept_id",
    "condition_occurrence": "condition_concept_id",
    "drug_exposure": "drug_concept_id",
    "procedure_occurrence": "procedure_concept_id",
    "measurement": "measurement_concept_id",
    "observation": "observation_concept_id",
    "device_exposure": "device_concept_id",
    "death": "cause_concept_id",
}
QUASI_IDENTIFIERS = ("year_of_birth", "gender_concept_id")


def year_of_birth_hierarchy() -> Hierarchy:
    """Year of birth → 5-year band → 10-year band → suppressed (bands labelled `1950-1954`)."""
    steps = (
        Level("band", 5, "5년 구간", "5-year bands"),
        Level("band", 10, "10년 구간", "10-year bands"),
        Level("top", 0, "전체 (*)", "suppressed (*)"),
    )
    return Hierarchy("year_of_birth_bands", steps)


def view_columns(table: str) -> list[tuple[str, str]]:
    """The (column, DuckDB type) a pod sees of a CDM table, in DDL order."""
    spec: Table = cdm_tables()[table]
    return [
        (f.name, f.sql_type("duckdb"))
        for f in spec.fields
        if not f.name.endswith("_source_value") and f.name not in _WITHHELD
    ]


def granted_tables(
    variables: Sequence[RequestedVariable], concept_sets: dict[str, list[int]], needs: Iterable[str]
) -> dict[str, list[int] | None]:
    """Table → the concept ids it is narrowed to (None: the whole table), for the tables the bundle needs."""
    allowed: dict[str, list[int] | None] = {}
    for v in variables:
        if v.concept_set is None:
            allowed[v.table] = None
            continue
        if v.table not in CONCEPT_COLUMN:
            raise PodGrantError(f"variable {v.table}:{v.concept_set}: table {v.table} has no concept to narrow by")
        if v.concept_set not in concept_sets:
            raise PodGrantError(f"concept set {v.concept_set!r} of the grant is not resolved at this site")
        if v.table in allowed and allowed[v.table] is None:
            continue
        allowed[v.table] = sorted({*(allowed.get(v.table) or []), *concept_sets[v.concept_set]})
    wanted = list(dict.fromkeys(needs))
    outside = [t for t in wanted if t not in allowed]
    if outside:
        raise PodGrantError(f"the bundle needs tables the grant does not allow: {', '.join(outside)}")
    return {t: allowed[t] for t in wanted}


def _select(table: str, present: set[str], kept: bool) -> str:
    """SELECT of one table with the view's columns and types; the person QIs replaced by their generalisation."""
    parts = []
    for column, sql_type in view_columns(table):
        if table == "person" and column in QUASI_IDENTIFIERS and kept:
            parts.append(f"CAST(nullif(split_part(k.{column}, '-', 1), '*') AS {sql_type}) AS {column}")
        elif column in present:
            parts.append(f"CAST(t.{quote_ident(column)} AS {sql_type}) AS {column}")
        else:
            parts.append(f"CAST(NULL AS {sql_type}) AS {column}")
    return ", ".join(parts)


def _deidentify_text(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> bool:
    """Replace a free-text column's values by their high-recall de-identification; True when any text was there."""
    values = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT {column} FROM {relation} WHERE nullif(trim({column}), '') IS NOT NULL"
        ).fetchall()
    ]
    if not values:
        return False
    from dari.privacy.text import deidentify  # Kiwi loads only when there is text to clean (about 3 s)

    cleaned = [deidentify(v, mode="high-recall").text for v in values]
    con.register("_deid", pa.table({"v": pa.array(values, pa.string()), "c": pa.array(cleaned, pa.string())}))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {relation} AS SELECT * REPLACE "
        f"(coalesce(d.c, CASE WHEN nullif(trim(r.{column}), '') IS NULL THEN r.{column} END) AS {column}) "
        f"FROM {relation} r LEFT JOIN _deid d ON r.{column} = d.v"
    )
    con.unregister("_deid")
    return True


def build_view(site_folder: Path, grant: PodGrant, needs: Iterable[str], out: Path) -> ViewRecord:
    """Write the pod's view of the site's CDM under `out` (read-only afterwards) and return its record."""
    tables = granted_tables(grant.variables, grant.concept_sets, needs)
    cdm = resolve_duckdb_path(site_folder)
    if not cdm.is_file():
        raise StoreError(f"no CDM database at {cdm}")
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{cdm.as_posix().replace(chr(39), chr(39) * 2)}' AS cdm (READ_ONLY)")
        present = {
            t: {r[0] for r in con.execute(f"DESCRIBE cdm.{t}").fetchall()}
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'cdm'"
            ).fetchall()
        }
        if "person" not in present:
            raise StoreError(f"the CDM at {cdm} has no person table")
        con.execute(
            "CREATE TEMP TABLE qi AS SELECT person_id, CAST(year_of_birth AS VARCHAR) AS year_of_birth, "
            "CAST(gender_concept_id AS VARCHAR) AS gender_concept_id FROM cdm.person"
        )
        try:
            anonymised = enforce_k(
                "qi",
                {"year_of_birth": year_of_birth_hierarchy(), "gender_concept_id": suppress_only()},
                grant.target_k,
                grant.max_suppression,
                con=con,
            )
        except InputError as exc:
            raise PodGrantError(f"the view cannot meet the DRB's k={grant.target_k}: {exc}") from None
        con.register("_kept", anonymised.table)
        con.execute("CREATE TEMP TABLE kept AS SELECT * FROM _kept")
        con.unregister("_kept")
        rows: dict[str, int] = {}
        free_text: list[str] = []
        for table, concepts in tables.items():
            have = present.get(table, set())
            where = ["t.person_id IN (SELECT person_id FROM kept)"] if "person_id" in have else []
            if concepts is not None:
                ids = ", ".join(str(int(c)) for c in concepts) or "NULL"
                where.append(f"t.{CONCEPT_COLUMN[table]} IN ({ids})")
            join = " JOIN kept k USING (person_id)" if table == "person" else ""
            sql = f"SELECT {_select(table, have, table == 'person')} FROM cdm.{table} t{join}"
            if table not in present:
                sql = f"SELECT {_select(table, set(), False)} WHERE false"
            elif where:
                sql += " WHERE " + " AND ".join(where)
            relation = f"v_{table}"
            con.execute(f"CREATE TEMP TABLE {relation} AS {sql}")
            for column, _ in view_columns(table):
                if column in FREE_TEXT and _deidentify_text(con, relation, column):
                    free_text.append(f"{table}.{column}")
            target = (out / f"{table}.parquet").as_posix().replace("'", "''")
            con.execute(f"COPY {relation} TO '{target}' (FORMAT parquet)")
            rows[table] = int(con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()
    columns = {t: [c for c, _ in view_columns(t)] for t in tables}
    (out / VIEW_FILE).write_text(
        json.dumps({"dummy": False, "tables": columns, "rows": rows}, indent=2), encoding="utf-8"
    )
    review = anonymised.review
    record = ViewRecord(
        dummy=False,
        tables=columns,
        rows=rows,
        k=grant.target_k,
        k_achieved=anonymised.after.k,
        quasi_identifiers=anonymised.levels,
        persons_in=review.records_in,
        persons_suppressed=review.suppressed,
        loss=review.loss,
        free_text_columns=free_text,
        sha256=folder_sha256(out),
    )
    seal(out)
    return record


def folder_sha256(folder: Path) -> str:
    """The canonical hash of a flat folder's files (as a bundle's)."""
    return canonical_sha256({p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()})


def seal(folder: Path) -> None:
    """Make a view folder read-only (files 0444, the folder 0555): the pod reads it through a read-only bind too."""
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)
