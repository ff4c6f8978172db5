"""Dates of the synthetic network: the period the extracts cover, as numpy day numbers."""

from __future__ import annotations

import numpy as np

DATA_START = np.datetime64("2018-01-01", "D")
DATA_END = np.datetime64("2025-12-31", "D")
EXTRACT_DATE = np.datetime64("2026-01-15", "D")
# Index dates of the CKD-progression cohort must leave a full year of follow-up inside the data.
OUTCOME_CUTOFF = DATA_END - np.timedelta64(365, "D")
DAYS_PER_YEAR = 365.25


def years_between(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Fractional years from `start` to `end` (datetime64[D] arrays)."""
    return np.asarray((end - start).astype(np.float64) / DAYS_PER_YEAR)


def add_days(dates: np.ndarray, days: np.ndarray) -> np.ndarray:
    """`dates` shifted by a float or integer number of days, rounded down to whole days."""
    return np.asarray(dates + np.floor(days).astype("timedelta64[D]"))
