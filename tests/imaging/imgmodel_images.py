"""Synthetic radiographs for the imaging model's tests, from `dari.imaging.synth` (the sites' own generator)."""

from __future__ import annotations

from datetime import date

from pydicom import Dataset

from dari.imaging.site_profiles import imaging_site
from dari.imaging.synth import Patient, TruthRow, make_study

PATIENT = Patient("50123456", "김민준", "KIM MINJUN", "M", date(1961, 3, 15))


def radiograph(
    site_id: str = "site-1", *, lesion: bool, start: int = 0, seed: int = 11, burned_in: bool = False
) -> tuple[Dataset, TruthRow]:
    """The first radiograph (not CT) of the site from index `start` on, with or without a lesion and text as asked."""
    site = imaging_site(site_id)
    for index in range(start, start + 400):
        ds, truth = make_study(site, PATIENT, index, seed)
        if truth.modality != "CT" and bool(truth.lesion) == lesion and bool(truth.burned_in) == burned_in:
            return ds, truth
    raise AssertionError("no such radiograph in 400 studies")
