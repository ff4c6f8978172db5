"""The portal's search index: shipped concepts plus published datasets (what they hold, where they are).

The index follows the catalog: each request compares the catalog's signature (dataset count and latest
publication time, one small query) with the one the index was built at, and re-indexes only the datasets that
changed (`SearchIndex.with_documents` reuses every unchanged document), so a dataset published by the CLI or
another worker is found without a restart.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dari.catalog.dataset import DatasetRecord
from dari.hub.catalog import hospital_names, list_datasets
from dari.hub.db.models import Dataset
from dari.hub.search.documents import SearchDocument, concept_documents, dataset_document
from dari.hub.search.engine import SearchIndex
from dari.hub.settings import HubSettings
from dari.vocab import shipped_vocabulary

Signature = tuple[int, dt.datetime | None]


@functools.cache
def concept_index() -> SearchIndex:
    """The shipped vocabulary's concepts, indexed once per process (every hub in the process starts from it)."""
    return SearchIndex.build(concept_documents(shipped_vocabulary()))


def dataset_search_document(dataset: Dataset) -> SearchDocument:
    """A published dataset as search sees it: record, held concepts (named through the vocabulary), hospital."""
    return dataset_document(
        DatasetRecord.model_validate(dataset.record),
        dataset.characterisation,
        vocabulary=shipped_vocabulary(),
        hospital=hospital_names(dataset),
    )


def catalog_signature(session: Session) -> Signature:
    """What changes whenever a dataset is published, updated or added: count and latest publication time."""
    count, latest = session.execute(select(func.count(Dataset.id), func.max(Dataset.published_at))).one()
    return int(count), latest


class CatalogSearch:
    """One index per hub process; built on first use (Kiwi and the sentence encoder load once)."""

    def __init__(self, settings: HubSettings) -> None:
        self._settings = settings
        self._index: SearchIndex | None = None
        self._signature: Signature | None = None
        self._lock = threading.Lock()

    def index(self, session: Session) -> SearchIndex:
        """The current index, (re)built from the vocabulary and the catalog when the catalog changed."""
        signature = catalog_signature(session)
        with self._lock:
            if self._index is None or signature != self._signature:
                documents = [dataset_search_document(d) for d in list_datasets(session)]
                base = self._index or concept_index()
                known = {d.id for d in documents}
                gone = [d.id for d in base.documents if d.kind == "dataset" and d.id not in known]
                self._index = base.with_documents(documents, removals=gone)
                self._signature = signature
            return self._index
