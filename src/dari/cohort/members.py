"""The person ids behind each figure a cohort job releases, for the site's release ledger (never sent)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import ibis.expr.types as ir  # type: ignore[import-untyped]
import numpy as np
from ibis.backends.sql import SQLBackend  # type: ignore[import-untyped]

from dari.cdm.concepts import SEXES  # one list of sex strata, shared with summary and characterise
from dari.cohort.compile import domain_events, window_join
from dari.cohort.request import TableOneRequest
from dari.cohort.resolve import sex_labels
from dari.cohort.summary import RawNumeric


def person_sexes(codes: list[Any], labels: dict[int, str]) -> np.ndarray[Any, Any]:
    """Each person's sex label ("F", "M", "unknown") from gender concept ids and their resolved labels."""
    sexes = np.array([labels.get(int(c), "unknown") if c is not None else "unknown" for c in codes], dtype=object)
    sexes[~np.isin(sexes, SEXES)] = "unknown"
    return sexes


def table_one_members(
    backend: SQLBackend,
    cohort: ir.Table,
    values: ir.Table,
    request: TableOneRequest,
    sets: dict[str, tuple[int, ...]],
    summaries: dict[str, RawNumeric],
) -> dict[str, np.ndarray[Any, Any]]:
    """The person ids behind each count (into the returned dict) and each numeric summary (into `summaries`)."""
    persons = cohort.select("person_id", "gender_concept_id").to_pyarrow()
    ids = persons["person_id"].to_numpy(zero_copy_only=False).astype(np.int64)
    codes = persons["gender_concept_id"].to_pylist()
    sexes = person_sexes(codes, sex_labels(backend, [int(c) for c in codes if c is not None]))
    out = {"n": ids} | {f"sex:{s}": ids[sexes == s] for s in SEXES}
    for c in request.comorbidities:
        events = domain_events(backend, c.domain, sets[c.concept_set])
        pairs = window_join(cohort, events, c.window, within_observation=False)
        found = pairs.select("person_id").distinct().to_pyarrow()["person_id"].to_numpy(zero_copy_only=False)
        out[f"comorbidity:{c.name}"] = found.astype(np.int64)
    rows = values.select("variable", "person_id", "hist_value").to_pyarrow()
    variable = np.asarray(rows["variable"].to_pylist(), dtype=object)
    pid = rows["person_id"].to_numpy(zero_copy_only=False).astype(np.int64)
    hist = rows["hist_value"].to_numpy(zero_copy_only=False).astype(np.float64)
    for name, raw in summaries.items():
        mine = variable == name
        k = np.floor(hist[mine] / raw.bin_width).astype(np.int64) if raw.bin_width else None
        summaries[name] = replace(raw, members=pid[mine], member_bins=k)
    return out
