"""What a site computes to publish in the catalog (its dataset record, characterisation and quality score), and
the hub's re-check of it on arrival.

All of it runs at the site on its CDM; only disclosure-controlled counts are in the result, and the hub refuses a
publication whose counts break the consortium's rules (`recheck_publication`) before storing anything.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from dari.catalog.characterise import Characterisation, characterise
from dari.catalog.dataset import DatasetRecord, describe
from dari.cdm.store import open_store
from dari.disclosure import DisclosureRules
from dari.federation.register import recheck_release
from dari.quality import run_checks


class Publication(BaseModel):
    """A site's catalog entry as it leaves the site."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    record: DatasetRecord
    characterisation: Characterisation
    quality_score: float | None


def prepare_publication(
    target: str | Path, identifier: str, *, rules: DisclosureRules | None = None, contact: str = "dpo@example.org"
) -> Publication:
    """Characterise the site's CDM, run the quality checks and describe the dataset."""
    store = open_store(target)
    try:
        characterisation = characterise(store, rules=rules)
        quality = run_checks(store).summary.overall_score
        record = describe(store, characterisation, identifier=identifier, quality_score=quality, contact_point=contact)
    finally:
        store.close()
    return Publication(record=record, characterisation=characterisation, quality_score=quality)


def recheck_publication(
    record: DatasetRecord, characterisation: Characterisation | None, rules: DisclosureRules | None = None
) -> None:
    """The hub's re-check of a catalog publication before it is stored (`dari.federation.register`).

    Raises `DisclosureRefusedError` naming the field when a count is below the consortium's rules (default
    10 / 5) or was protected under weaker ones; the record's shown counts are checked as text.
    """
    r = rules or DisclosureRules()
    recheck_release(record, r)
    if characterisation is not None:
        recheck_release(characterisation, r)
