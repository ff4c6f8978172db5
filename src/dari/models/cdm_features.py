"""A feature spec run against one OMOP CDM: the cohort, each member's raw feature values and the outcome label.

Everything happens in one SQL statement per site, written once for DuckDB and PostgreSQL (date ± integer,
date − date, make_date, window functions and VALUES lists mean the same in both). Concept ids come from the CDM's
own vocabulary (`cdm_concepts`) and enter the SQL as integers; codes and dates travel as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from dari.cdm.store import CdmStore
from dari.errors import InputError
from dari.models.cdm_concepts import ConceptLookup
from dari.models.codes import LabCode
from dari.models.feature_spec import ConditionSource, FeatureSpec, MeasurementSource
from dari.models.inputs import (
    DAYS_PER_YEAR,
    UNKNOWN_BIRTH_DAY,
    UNKNOWN_BIRTH_DAY_OF_KNOWN_MONTH,
    UNKNOWN_BIRTH_MONTH,
    AssembledBatch,
    assemble_batch,
)

AGE_BANDS: tuple[tuple[float, float, str], ...] = (
    (0.0, 18.0, "<18"),
    (18.0, 45.0, "18-44"),
    (45.0, 65.0, "45-64"),
    (65.0, 75.0, "65-74"),
    (75.0, float("inf"), "75+"),
)


class CohortCounts(BaseModel):
    """How the cohort was reached, step by step, and what the CDM could not provide."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    with_index_measurement: int  # persons with any measurement of the index code
    first_unit_refused: int  # first measurement in a unit the spec does not accept
    first_in_range: int
    adults: int  # … and old enough
    in_period: int  # … and indexed inside the study period: the cohort before censoring
    short_followup: int  # non-events observed for less than the outcome window (counted even when kept)
    short_followup_excluded: bool  # whether they were dropped (spec.outcome.exclude_censored)
    n: int
    events: int
    unit_refused: dict[str, dict[str, int]]  # code set → UCUM unit (or "(none)") → rows never used
    ambiguous_latest: dict[str, int] = {}  # feature → members whose equally-latest values differ (not scored)
    notes: tuple[str, ...]  # codes this CDM does not have, fallbacks taken


@dataclass(frozen=True)
class CohortFrame:
    """One row per cohort member: ids, index date, raw feature values (NaN = missing), outcome, subgroups."""

    person_id: np.ndarray  # int64
    index_date: np.ndarray  # datetime64[D]
    raw: dict[str, np.ndarray]  # feature name → float64 (yes/no as 0/1)
    y: np.ndarray  # bool: the outcome
    sex: np.ndarray  # str: "M", "F" or "" (unknown)
    age_band: np.ndarray  # str, from AGE_BANDS
    counts: CohortCounts
    ambiguous: dict[str, np.ndarray] = field(default_factory=dict)  # feature → bool: latest value ambiguous

    def __len__(self) -> int:
        return int(self.person_id.size)

    def inputs(self, spec: FeatureSpec) -> AssembledBatch:
        """The model input rows (through `assemble_batch`, so the FHIR path's rules apply unchanged)."""
        return assemble_batch(spec, self.raw, ambiguous=self.ambiguous)


def _values(pairs: list[tuple[int, int, float]]) -> str:
    """A VALUES list of (concept_id, unit_concept_id, factor); a never-matching row when there is none."""
    if not pairs:
        return "(CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS DOUBLE PRECISION))"
    first, *rest = pairs
    rows = [
        f"(CAST({int(first[0])} AS BIGINT), CAST({int(first[1])} AS BIGINT), CAST({float(first[2])!r} AS "
        "DOUBLE PRECISION))"
    ]
    rows += [f"({int(m)}, {int(u)}, {float(f)!r})" for m, u, f in rest]
    return ", ".join(rows)


_SAME = "1e-9"  # relative tolerance: one value converted from two units is not a conflict


def _in(column: str, ids: list[int]) -> str:
    return f"{column} IN ({', '.join(str(int(i)) for i in ids)})" if ids else "FALSE"


_AGE = (
    f"CAST((f.index_date - make_date(p.year_of_birth, coalesce(p.month_of_birth, {UNKNOWN_BIRTH_MONTH}), "
    f"coalesce(p.day_of_birth, CASE WHEN p.month_of_birth IS NULL THEN {UNKNOWN_BIRTH_DAY} "
    f"ELSE {UNKNOWN_BIRTH_DAY_OF_KNOWN_MONTH} END))) AS DOUBLE PRECISION) / {DAYS_PER_YEAR}"
)


def _cohort_ctes(spec: FeatureSpec, look: ConceptLookup) -> tuple[str, list[object]]:
    c = spec.cohort
    index_ids = look.lab_ids(c.index)
    if not index_ids:
        raise InputError(
            f"the CDM has no concept for the cohort's index measurement (LOINC {', '.join(c.index.codes)})"
        )
    period = ""
    params: list[object] = [c.first_value_low, c.first_value_high, c.min_age_years]
    if c.index_start is not None:
        period += " AND index_date >= ?"
        params.append(c.index_start)
    if c.index_end is not None:
        period += " AND index_date <= ?"
        params.append(c.index_end)
    sql = f"""
    idx_allowed(concept_id, unit_concept_id, factor) AS (VALUES {_values(look.lab_pairs(c.index))}),
    idx_first AS (
        SELECT m.person_id, m.measurement_date AS index_date, m.value_as_number AS v,
               m.measurement_concept_id AS concept_id, m.unit_concept_id,
               row_number() OVER (PARTITION BY m.person_id
                                  ORDER BY m.measurement_date, m.measurement_datetime NULLS LAST, m.measurement_id) AS k
        FROM measurement m WHERE {_in("m.measurement_concept_id", index_ids)}),
    candidates AS (
        SELECT f.person_id, f.index_date, f.v AS raw_value, p.gender_concept_id,
               CAST(f.v AS DOUBLE PRECISION) * a.factor AS index_value, {_AGE} AS age
        FROM idx_first f JOIN person p ON p.person_id = f.person_id
        LEFT JOIN idx_allowed a ON a.concept_id = f.concept_id AND a.unit_concept_id = f.unit_concept_id
        WHERE f.k = 1),
    staged AS (
        SELECT *, CASE WHEN index_value >= ? AND index_value < ? THEN 1 ELSE 0 END AS in_range,
               CASE WHEN age >= ? THEN 1 ELSE 0 END AS adult,
               CASE WHEN TRUE{period} THEN 1 ELSE 0 END AS in_period
        FROM candidates),
    cohort AS (SELECT person_id, index_date, age, gender_concept_id FROM staged
               WHERE in_range = 1 AND adult = 1 AND in_period = 1)"""
    return sql, params


def _lab_cte(name: str, source: MeasurementSource, look: ConceptLookup) -> str:
    """Each cohort member's latest value in the lookback window, by date and then time (never by row id).

    The candidates are the last day's rows at its latest time, or all of that day's rows when one of them has no
    time (it may be the later one). When the candidates' values differ, `v` is NULL and `ambiguous` is 1: the
    member is not scored (and the reason counted) rather than scored on whichever row happened to sort first."""
    return f"""
    {name}_allowed(concept_id, unit_concept_id, factor) AS (VALUES {_values(look.lab_pairs(source))}),
    {name}_rows AS (
        SELECT c.person_id, CAST(m.value_as_number AS DOUBLE PRECISION) * a.factor AS v,
               m.measurement_date AS d, m.measurement_datetime AS t,
               max(m.measurement_date) OVER (PARTITION BY c.person_id) AS last_d
        FROM cohort c JOIN measurement m ON m.person_id = c.person_id
        JOIN {name}_allowed a ON a.concept_id = m.measurement_concept_id AND a.unit_concept_id = m.unit_concept_id
        WHERE m.value_as_number IS NOT NULL AND m.measurement_date <= c.index_date
          AND m.measurement_date >= c.index_date - {int(source.lookback_days)}),
    {name}_day AS (
        SELECT person_id, v, t, max(t) OVER (PARTITION BY person_id) AS last_t,
               max(CASE WHEN t IS NULL THEN 1 ELSE 0 END) OVER (PARTITION BY person_id) AS untimed
        FROM {name}_rows WHERE d = last_d),
    {name} AS (
        SELECT person_id,
               CASE WHEN max(v) - min(v) <= {_SAME} * greatest(1.0, abs(max(v))) THEN min(v) END AS v,
               CASE WHEN max(v) - min(v) <= {_SAME} * greatest(1.0, abs(max(v))) THEN 0 ELSE 1 END AS ambiguous
        FROM {name}_day WHERE untimed = 1 OR t = last_t GROUP BY person_id)"""


def _condition_cte(name: str, source: ConditionSource, look: ConceptLookup) -> str:
    standard, kcd = look.condition_ids(source)
    return f"""
    {name} AS (
        SELECT DISTINCT c.person_id FROM cohort c JOIN condition_occurrence co ON co.person_id = c.person_id
        WHERE co.condition_start_date <= c.index_date
          AND ({_in("co.condition_concept_id", standard)} OR {_in("co.condition_source_concept_id", kcd)}))"""


def _outcome_ctes(spec: FeatureSpec, look: ConceptLookup) -> tuple[str, list[float]]:
    o = spec.outcome
    sql = f"""
    out_allowed(concept_id, unit_concept_id, factor) AS (VALUES {_values(look.lab_pairs(o.measurement))}),
    outcome AS (
        SELECT DISTINCT c.person_id FROM cohort c JOIN measurement m ON m.person_id = c.person_id
        JOIN out_allowed a ON a.concept_id = m.measurement_concept_id AND a.unit_concept_id = m.unit_concept_id
        WHERE m.value_as_number IS NOT NULL
          AND m.measurement_date > c.index_date + {int(o.window_start_days)}
          AND m.measurement_date <= c.index_date + {int(o.window_end_days)}
          AND CAST(m.value_as_number AS DOUBLE PRECISION) * a.factor < ?),
    followup AS (
        SELECT c.person_id, max(op.observation_period_end_date) AS obs_end
        FROM cohort c JOIN observation_period op ON op.person_id = c.person_id
        WHERE op.observation_period_start_date <= c.index_date GROUP BY c.person_id)"""
    return sql, [o.below]


def _unit_refused(store: CdmStore, look: ConceptLookup, code: LabCode) -> dict[str, int]:
    """Rows of the code's LOINC concepts, with a value, in a unit the spec neither takes nor converts."""
    ids = look.lab_ids(code)
    if not ids:
        return {}
    rows = store.query(f"""
        WITH allowed(concept_id, unit_concept_id, factor) AS (VALUES {_values(look.lab_pairs(code))})
        SELECT coalesce(u.concept_code, '(none)'), count(*) FROM measurement m
        LEFT JOIN allowed a ON a.concept_id = m.measurement_concept_id AND a.unit_concept_id = m.unit_concept_id
        LEFT JOIN concept u ON u.concept_id = m.unit_concept_id
        WHERE {_in("m.measurement_concept_id", ids)} AND m.value_as_number IS NOT NULL AND a.factor IS NULL
        GROUP BY 1 ORDER BY 1""")
    return {str(unit): int(n) for unit, n in rows}


def _age_band(age: np.ndarray) -> np.ndarray:
    out = np.full(age.shape, "", dtype=object)
    for low, high, label in AGE_BANDS:
        out[(age >= low) & (age < high)] = label
    return out.astype(str)


def _floats(rows: list[tuple[Any, ...]], k: int) -> np.ndarray:
    return np.array([np.nan if r[k] is None else float(r[k]) for r in rows], dtype=np.float64)


def extract_cohort_features(store: CdmStore, spec: FeatureSpec) -> CohortFrame:
    """The spec's cohort in this CDM with raw feature values at each index date and the outcome label."""
    look = ConceptLookup(store)
    cohort_sql, params = _cohort_ctes(spec, look)
    ctes, columns = [cohort_sql], []
    male_ids, female_ids = look.gender_ids()
    for j, feature in enumerate(spec.features):
        src, name = feature.source, f"f{j}"
        if isinstance(src, MeasurementSource):
            ctes.append(_lab_cte(name, src, look))
            columns.append((f"{name}.v", f"LEFT JOIN {name} ON {name}.person_id = c.person_id"))
        elif isinstance(src, ConditionSource):
            ctes.append(_condition_cte(name, src, look))
            expr = f"CASE WHEN {name}.person_id IS NULL THEN 0.0 ELSE 1.0 END"
            columns.append((expr, f"LEFT JOIN {name} ON {name}.person_id = c.person_id"))
        elif src.field == "age_years":
            columns.append(("c.age", ""))
        else:
            sex = (
                f"CASE WHEN {_in('c.gender_concept_id', male_ids)} THEN 1.0 "
                f"WHEN {_in('c.gender_concept_id', female_ids)} THEN 0.0 END"
            )
            columns.append((sex, ""))
    outcome_sql, outcome_params = _outcome_ctes(spec, look)
    ctes.append(outcome_sql)
    labs = [(j, f) for j, f in enumerate(spec.features) if isinstance(f.source, MeasurementSource)]
    flags = [f"coalesce(f{j}.ambiguous, 0)" for j, _ in labs]
    select = ", ".join([expr for expr, _ in columns] + flags)
    joins = "\n".join(join for _, join in columns if join)
    sex_expr = (
        f"CASE WHEN {_in('c.gender_concept_id', male_ids)} THEN 'M' "
        f"WHEN {_in('c.gender_concept_id', female_ids)} THEN 'F' ELSE '' END"
    )
    rows = store.query(
        f"""WITH {",".join(ctes)}
        SELECT c.person_id, c.index_date, c.age, {sex_expr},
               CASE WHEN o.person_id IS NULL THEN 0 ELSE 1 END, fu.obs_end, {select}
        FROM cohort c
        LEFT JOIN outcome o ON o.person_id = c.person_id
        LEFT JOIN followup fu ON fu.person_id = c.person_id
        {joins}
        ORDER BY c.person_id""",
        [*params, *outcome_params],
    )
    stages = store.query(
        f"""WITH {cohort_sql}
        SELECT count(*), sum(CASE WHEN raw_value IS NOT NULL AND index_value IS NULL THEN 1 ELSE 0 END),
               sum(in_range), sum(in_range * adult), sum(in_range * adult * in_period) FROM staged""",
        params,
    )[0]
    index_date = np.array([r[1] for r in rows], dtype="datetime64[D]")
    y = np.array([r[4] == 1 for r in rows], dtype=bool)
    obs_end = np.array([r[5] for r in rows], dtype="datetime64[D]")
    window_end = index_date + np.timedelta64(spec.outcome.window_end_days, "D")
    censored = ~y & (np.isnat(obs_end) | (obs_end < window_end))
    keep = ~censored if spec.outcome.exclude_censored else np.ones(len(rows), dtype=bool)
    age = _floats(rows, 2)
    raw = {f.name: _floats(rows, 6 + j)[keep] for j, f in enumerate(spec.features)}
    first_flag = 6 + len(spec.features)
    ambiguous = {f.name: (_floats(rows, first_flag + k) == 1.0)[keep] for k, (_, f) in enumerate(labs)}
    refused = {
        "cohort.index": _unit_refused(store, look, spec.cohort.index),
        "outcome": _unit_refused(store, look, spec.outcome.measurement),
    }
    for f in spec.features:
        if isinstance(f.source, MeasurementSource):
            refused[f.name] = _unit_refused(store, look, f.source)
    counts = CohortCounts(
        with_index_measurement=int(stages[0] or 0),
        first_unit_refused=int(stages[1] or 0),
        first_in_range=int(stages[2] or 0),
        adults=int(stages[3] or 0),
        in_period=int(stages[4] or 0),
        short_followup=int(censored.sum()),
        short_followup_excluded=spec.outcome.exclude_censored,
        n=int(keep.sum()),
        events=int(y[keep].sum()),
        unit_refused={k: v for k, v in refused.items() if v},
        ambiguous_latest={name: int(mask.sum()) for name, mask in ambiguous.items() if mask.any()},
        notes=tuple(dict.fromkeys(look.notes)),
    )
    return CohortFrame(
        person_id=np.array([int(r[0]) for r in rows], dtype=np.int64)[keep],
        index_date=index_date[keep],
        raw=raw,
        y=y[keep],
        sex=np.array([str(r[3]) for r in rows], dtype=str)[keep] if rows else np.array([], dtype=str),
        age_band=_age_band(age)[keep],
        counts=counts,
        ambiguous=ambiguous,
    )
