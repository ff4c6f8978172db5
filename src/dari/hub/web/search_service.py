"""The portal's search index: shipped concepts plus published datasets, rebuilt incrementally on publish."""

from __future__ import annotations

import functools
import threading
from typing import Any

from sqlalchemy.orm import Session

from dari.catalog.dataset import DatasetRecord
from dari.hub.catalog import list_datasets
from dari.hub.search.documents import SearchDocument, concept_documents, dataset_document
from dari.hub.search.engine import SearchIndex
from dari.hub.settings import HubSettings
from dari.vocab import shipped_vocabulary


@functools.cache
def concept_index() -> SearchIndex:
    """The shipped vocabulary's concepts, indexed once per process (every hub in the process starts from it)."""
    return SearchIndex.build(concept_documents(shipped_vocabulary()))


class CatalogSearch:
    """One index per hub process; built on first use (Kiwi and the sentence encoder load once)."""

    def __init__(self, settings: HubSettings) -> None:
        self._settings = settings
        self._index: SearchIndex | None = None
        self._lock = threading.Lock()

    def index(self, session: Session) -> SearchIndex:
        """The current index, building it from the vocabulary and the catalog if needed."""
        with self._lock:
            if self._index is None:
                datasets = [_document(d.record) for d in list_datasets(session)]
                self._index = concept_index().with_documents(datasets)
            return self._index

    def refresh_dataset(self, record: dict[str, Any]) -> None:
        """Add or replace one dataset after it was published (no-op before the index is first built)."""
        with self._lock:
            if self._index is not None:
                self._index = self._index.with_documents([_document(record)])


def _document(record: dict[str, Any]) -> SearchDocument:
    return dataset_document(DatasetRecord.model_validate(record))
