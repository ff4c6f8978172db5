"""Dummy data for developing a pod without the data (OpenSAFELY-style): the pod view's schema, no real rows.

`make_dummy` reads what a site publishes to the hub catalog — its `Publication` or just its `Characterisation`
(`dari.catalog.characterise`: protected person counts by age band and sex, and the top concepts per domain with
the persons who have them) — and draws persons and events with those marginals: each person's age band and sex
from the age/sex cells (a suppressed cell counts as half the floor), each top concept with its share of persons,
dates inside each person's observation period. Nothing else is known, so everything else is plausible filler
(lognormal measurement values, outpatient visits, 2 % deaths); columns the marginals say nothing about are NULL.
The tables and columns, in name, order and type, are those of the pod's view at the site (`dari.pods.view`), so
code written against `/pod/data/*.parquet` here runs unchanged there. Person ids are drawn above 10⁹ and dates
at random: no real person id, date or person–date pair is copied, because no row of the site is ever read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from dari.atomic import atomic_dir
from dari.catalog.characterise import AGE_BAND_YEARS, Characterisation
from dari.cdm.schema import cdm_tables, quote_ident
from dari.errors import InputError
from dari.hub.governance.requested_data import TABLE_LABELS
from dari.pods.view import VIEW_FILE, seal, view_columns

DUMMY_VIEW = "view"
MAX_PERSONS = 200_000
#: OMOP's standard gender concepts (a site may use its own ids: the characterisation does not publish them).
GENDER_CONCEPTS = {"F": 8532, "M": 8507, "unknown": 0}
OUTPATIENT_VISIT = 9202
EHR_TYPE = 32817
_DOMAIN_TABLE = {
    "conditions": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drugs": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "measurements": ("measurement", "measurement_concept_id", "measurement_date"),
    "procedures": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
}
_TYPE_COLUMN = {
    "condition_occurrence": "condition_type_concept_id",
    "drug_exposure": "drug_type_concept_id",
    "measurement": "measurement_type_concept_id",
    "procedure_occurrence": "procedure_type_concept_id",
}
_EVENTS_PER_PERSON = {"conditions": 1.0, "drugs": 3.0, "measurements": 4.0, "procedures": 1.0}
_ID_BASE = 1_000_000_000


def read_characterisation(path: Path) -> Characterisation:
    """A site's published characterisation: a `Publication` JSON (with `characterisation`) or the bare record."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read a characterisation: {exc}", file=str(path)) from None
    if isinstance(raw, dict) and isinstance(raw.get("characterisation"), dict):
        raw = raw["characterisation"]
    try:
        return Characterisation.model_validate(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "value"
        raise InputError(f"not a characterisation: {where}: {problem['msg']}", file=str(path)) from None


def _count(value: int | None, floor: int) -> float:
    return float(value) if value is not None else floor / 2.0


def _persons(ch: Characterisation, n: int, ref: dt.date, rng: np.random.Generator) -> dict[str, np.ndarray]:
    cells = ch.age_sex or []
    if not cells:
        raise InputError("the characterisation has no age/sex cells to draw persons from")
    weights = np.array([_count(c.persons.value, ch.rules.min_cell) for c in cells])
    pick = rng.choice(len(cells), size=n, p=weights / weights.sum())
    low = np.array([int(c.age_band.split("-")[0].rstrip("+")) for c in cells])[pick]
    age = low + rng.integers(0, AGE_BAND_YEARS, size=n)
    sex = np.array([GENDER_CONCEPTS.get(c.sex, 0) for c in cells])[pick]
    ids = _ID_BASE + rng.choice(1_000_000_000, size=n, replace=False)
    span = rng.integers(365, 10 * 365, size=n)
    start = np.datetime64(ref) - span.astype("timedelta64[D]")
    return {"person_id": ids, "gender_concept_id": sex, "year_of_birth": ref.year - age, "start": start}


def _dates(start: np.ndarray, ref: dt.date, rng: np.random.Generator) -> np.ndarray:
    span = (np.datetime64(ref) - start).astype(np.int64)
    dates: np.ndarray = start + (rng.random(len(start)) * span).astype("timedelta64[D]")
    return dates


def _events(
    ch: Characterisation, domain: str, people: dict[str, np.ndarray], ref: dt.date, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    table, concept_col, date_col = _DOMAIN_TABLE[domain]
    n = len(people["person_id"])
    total = _count(ch.persons.value, ch.rules.min_cell)
    who, what = [], []
    for c in ch.top.get(domain, []):
        share = min(1.0, _count(c.persons.value, ch.rules.min_cell) / total)
        having = np.flatnonzero(rng.random(n) < share)
        repeats = 1 + rng.poisson(_EVENTS_PER_PERSON[domain] - 1.0, size=len(having))
        who.append(np.repeat(having, repeats))
        what.append(np.full(int(repeats.sum()), c.concept_id))
    idx = np.concatenate(who) if who else np.array([], dtype=np.int64)
    concepts = np.concatenate(what) if what else np.array([], dtype=np.int64)
    key = cdm_tables()[table].primary_key
    out: dict[str, np.ndarray] = {
        key.name if key else f"{table}_id": np.arange(1, len(idx) + 1),
        "person_id": people["person_id"][idx],
        concept_col: concepts,
        date_col: _dates(people["start"][idx], ref, rng),
    }
    if table == "measurement":
        out["value_as_number"] = np.round(rng.lognormal(mean=3.0, sigma=0.6, size=len(idx)), 3)
    out[_TYPE_COLUMN[table]] = np.full(len(idx), EHR_TYPE)
    return out


def _other(table: str, people: dict[str, np.ndarray], ref: dt.date, rng: np.random.Generator) -> dict[str, Any]:
    n = len(people["person_id"])
    if table == "person":
        return {k: v for k, v in people.items() if k != "start"}
    if table == "observation_period":
        return {
            "observation_period_id": np.arange(1, n + 1),
            "person_id": people["person_id"],
            "observation_period_start_date": people["start"],
            "observation_period_end_date": np.full(n, np.datetime64(ref)),
            "period_type_concept_id": np.full(n, EHR_TYPE),
        }
    if table == "visit_occurrence":
        idx = np.repeat(np.arange(n), rng.poisson(3.0, size=n))
        dates = _dates(people["start"][idx], ref, rng)
        return {
            "visit_occurrence_id": np.arange(1, len(idx) + 1),
            "person_id": people["person_id"][idx],
            "visit_concept_id": np.full(len(idx), OUTPATIENT_VISIT),
            "visit_start_date": dates,
            "visit_end_date": dates,
            "visit_type_concept_id": np.full(len(idx), EHR_TYPE),
        }
    if table == "death":
        idx = np.flatnonzero(rng.random(n) < 0.02)
        return {"person_id": people["person_id"][idx], "death_date": _dates(people["start"][idx], ref, rng)}
    return {}  # observation, device_exposure: the schema only


def make_dummy(
    characterisation: Characterisation, tables: Sequence[str], out: Path, *, persons: int | None = None, seed: int = 0
) -> dict[str, int]:
    """Write `out/view/<table>.parquet` and `_view.json` (read-only); returns rows per table."""
    unknown = [t for t in tables if t not in TABLE_LABELS]
    if unknown:
        raise InputError(f"--tables: not pod tables: {', '.join(unknown)} (choose from {', '.join(TABLE_LABELS)})")
    total = characterisation.persons.value
    n = persons if persons is not None else (total or 1000)
    if not 1 <= n <= MAX_PERSONS:
        raise InputError(f"--persons must be between 1 and {MAX_PERSONS}, got {n}")
    ref = characterisation.reference_date or dt.datetime.now(dt.UTC).date()
    rng = np.random.default_rng(seed)
    people = _persons(characterisation, n, ref, rng)
    domains = {table: domain for domain, (table, _, _) in _DOMAIN_TABLE.items()}
    rows: dict[str, int] = {}
    if (out / DUMMY_VIEW).is_dir():  # an earlier dummy, sealed read-only: unseal so it can be replaced
        (out / DUMMY_VIEW).chmod(0o755)
        for old in (out / DUMMY_VIEW).iterdir():
            old.chmod(0o644)
    with atomic_dir(out / DUMMY_VIEW) as tmp:
        con = duckdb.connect()
        try:
            for table in dict.fromkeys(tables):
                data = (
                    _events(characterisation, domains[table], people, ref, rng)
                    if table in domains
                    else _other(table, people, ref, rng)
                )
                columns = view_columns(table)
                length = len(next(iter(data.values()))) if data else 0
                con.register("_d", pa.table(data) if data else pa.table({"_": pa.array([], pa.int8())}))
                select = ", ".join(
                    f"CAST({quote_ident(c)} AS {t}) AS {c}" if c in data else f"CAST(NULL AS {t}) AS {c}"
                    for c, t in columns
                )
                target = (tmp / f"{table}.parquet").as_posix().replace("'", "''")
                con.execute(f"COPY (SELECT {select} FROM _d) TO '{target}' (FORMAT parquet)")
                con.unregister("_d")
                rows[table] = length
        finally:
            con.close()
        meta = {"dummy": True, "tables": {t: [c for c, _ in view_columns(t)] for t in rows}, "rows": rows}
        meta |= {"seed": seed, "reference_date": ref.isoformat()}
        (tmp / VIEW_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        seal(tmp)
    return rows
