"""The date a CDM's ages are taken at: one the user sets, else the end of the CDM's observation.

A fixed calendar year gave Eunomia (observed until 2019) ages up to 129. The default is the latest
observation_period_end_date, the last day the CDM can speak for; a CDM without observation periods falls back
to today's date. Ages are whole years, year of the reference date minus year_of_birth, the same rule the cohort
engine applies at each index date, so summary, characterise, feasibility and Table 1 agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from dari.cdm.store import CdmStore
from dari.errors import InputError, StoreError


def observation_end(store: CdmStore) -> date | None:
    """The latest observation_period_end_date, or None when the CDM has no observation period."""
    columns = store.table_columns().get("observation_period")
    if columns is None:
        return None
    if "observation_period_end_date" not in columns:
        raise StoreError(f"{store.label}: table observation_period has no column observation_period_end_date")
    value = store.query("SELECT max(observation_period_end_date) FROM observation_period")[0][0]
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value if isinstance(value, date) else _parse(str(value))


def _parse(text: str) -> date:
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise InputError(f"must be a date YYYY-MM-DD, got {text!r}", column="observation_period_end_date") from exc


def parse_reference_date(text: str | None) -> date | None:
    """A `--reference-date` value (YYYY-MM-DD) as a date; None stays None (use the CDM's observation end)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--reference-date must be YYYY-MM-DD, got {text!r}") from exc


def reference_date(store: CdmStore, given: date | None = None) -> date:
    """`given`, else the CDM's observation end, else today (UTC)."""
    return given or observation_end(store) or datetime.now(UTC).date()


def age_sql(reference: date, year_of_birth: str = "year_of_birth") -> str:
    """SQL for whole-year age at the reference date (the year is an integer, inlined)."""
    return f"({int(reference.year)} - {year_of_birth})"
