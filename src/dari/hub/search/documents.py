"""What search indexes: typed bilingual documents built from dataset records and vocabulary concepts."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from dari.errors import InputError
from dari.hub.search.holdings import concept_terms, held_concepts
from dari.hub.search.places import region_for

if TYPE_CHECKING:
    from dari.vocab import Vocabulary

DocumentKind = Literal["dataset", "concept"]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = ("dataset", "concept")
# The fields a document is searched and highlighted in; list fields (keywords, concepts, place) are shown joined
# by KEYWORD_SEPARATOR. `concepts`: what a dataset holds (its characterisation's concepts, Korean and English
# names, synonyms, ancestors); `place`: its hospital's names and region.
FIELDS = ("title_ko", "title_en", "keywords", "concepts", "place", "text_ko", "text_en")
LIST_FIELDS = frozenset({"keywords", "concepts", "place"})
KEYWORD_SEPARATOR = " · "
# Vocabulary domains whose concepts are worth finding in the catalog (not units, genders, type concepts…).
CONCEPT_DOMAINS = frozenset({"Condition", "Drug", "Procedure", "Measurement", "Observation"})
_MAX_FIELD_CHARS = 20_000


def _clean(value: str, name: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {type(value).__name__}")
    if len(value) > _MAX_FIELD_CHARS:
        raise InputError(f"{name} must be at most {_MAX_FIELD_CHARS:,} characters, got {len(value):,}")
    # NFC: Korean typed on macOS arrives decomposed (jamo); offsets and matching need one form.
    return unicodedata.normalize("NFC", value)


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """One searchable item, in Korean and English; either language's fields may be empty.

    `id` is unique within an index ('dataset:<identifier>', 'concept:<concept_id>' by the helpers here);
    `extra` carries display fields the hub needs back (publisher, domain, concept id…); it is not searched.
    """

    id: str
    kind: DocumentKind
    title_ko: str = ""
    title_en: str = ""
    text_ko: str = ""
    text_en: str = ""
    keywords: tuple[str, ...] = ()
    concepts: tuple[str, ...] = ()
    place: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise InputError(f"document id must be a non-empty string, got {self.id!r}")
        if self.kind not in DOCUMENT_KINDS:
            raise InputError(f"document kind must be one of {DOCUMENT_KINDS}, got {self.kind!r}")
        for name in ("title_ko", "title_en", "text_ko", "text_en"):
            object.__setattr__(self, name, _clean(getattr(self, name), f"{self.id}: {name}"))
        for name in LIST_FIELDS:
            words = tuple(_clean(k, f"{self.id}: {name}").strip() for k in getattr(self, name))
            object.__setattr__(self, name, tuple(k for k in dict.fromkeys(words) if k))
        object.__setattr__(self, "extra", MappingProxyType({str(k): str(v) for k, v in self.extra.items()}))
        if not any(getattr(self, name) for name in FIELDS):
            raise InputError(f"document {self.id!r} has no title, text or keyword to search")

    def field_text(self, name: str) -> str:
        """The text of one of FIELDS as shown to users (list fields joined)."""
        if name in LIST_FIELDS:
            return KEYWORD_SEPARATOR.join(getattr(self, name))
        if name not in FIELDS:
            raise KeyError(name)
        value: str = getattr(self, name)
        return value

    @property
    def title(self) -> str:
        """A display title: Korean and English when both exist."""
        if self.title_ko and self.title_en and self.title_ko != self.title_en:
            return f"{self.title_ko} ({self.title_en})"
        return self.title_ko or self.title_en or self.id


class DatasetLike(Protocol):
    """The fields of `dari.catalog.dataset.DatasetRecord` that search reads (read-only, so a frozen record fits)."""

    @property
    def identifier(self) -> str: ...
    @property
    def title(self) -> Mapping[str, str]: ...
    @property
    def description(self) -> Mapping[str, str]: ...
    @property
    def publisher(self) -> Mapping[str, str]: ...
    @property
    def keywords(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def themes(self) -> Sequence[str]: ...
    @property
    def coding_systems(self) -> Sequence[str]: ...


def dataset_document(
    record: DatasetLike,
    characterisation: Mapping[str, Any] | None = None,
    *,
    vocabulary: Vocabulary | None = None,
    hospital: Mapping[str, str] | None = None,
) -> SearchDocument:
    """The search document of a catalog dataset record: its text, what it holds and where it is.

    `characterisation` (as published, JSON) adds the concepts the dataset holds, named through `vocabulary`
    (Korean names, synonyms, ancestors); `hospital` is the name shown for its hospital ({'ko', 'en'}; default
    the record's publisher); the region comes from the record's `region` or is derived from these names.
    """
    publisher_ko, publisher_en = record.publisher.get("ko", ""), record.publisher.get("en", "")
    shown = hospital or record.publisher
    hospital_ko, hospital_en = shown.get("ko", "") or publisher_ko, shown.get("en", "") or publisher_en
    names = list(dict.fromkeys(n for n in (hospital_ko, publisher_ko, hospital_en, publisher_en) if n))
    region = region_for(getattr(record, "region", None), names)
    held = held_concepts(characterisation, vocabulary)
    return SearchDocument(
        id=f"dataset:{record.identifier}",
        kind="dataset",
        title_ko=record.title.get("ko", ""),
        title_en=record.title.get("en", ""),
        text_ko=record.description.get("ko", ""),
        text_en=record.description.get("en", ""),
        keywords=(*record.keywords.get("ko", []), *record.keywords.get("en", [])),
        concepts=tuple(concept_terms(vocabulary, held)),
        place=(*names, *(region.forms() if region else ())),
        extra={
            "identifier": record.identifier,
            "hospital_ko": hospital_ko,
            "hospital_en": hospital_en,
            "publisher_ko": publisher_ko,
            "publisher_en": publisher_en,
            "region_ko": region.name_ko if region else "",
            "region_en": region.name_en if region else "",
            "themes": ",".join(record.themes),
            "coding_systems": ",".join(record.coding_systems),
        },
    )


def concept_documents(vocabulary: Vocabulary, domains: Iterable[str] = CONCEPT_DOMAINS) -> list[SearchDocument]:
    """One document per standard or classification concept of the given domains.

    Keywords hold the concept's synonyms and the source codes (KCD-8, ATC…) that map to it; the text names its
    'Is a' parents, so 'heart disease' also finds the heart diseases below it.
    """
    wanted = frozenset(domains)
    synonyms: dict[int, list[str]] = {}
    for s in vocabulary.synonyms:
        synonyms.setdefault(s.concept_id, []).append(s.synonym)
    sources: dict[int, list[str]] = {}
    for c in vocabulary.concepts:
        if c.standard_concept is None and c.concept_id != 0:
            try:
                target = vocabulary.maps_to(c.concept_id)
            except KeyError:
                continue
            sources.setdefault(target.concept_id, []).append(f"{c.vocabulary_id} {c.concept_code}")
    out: list[SearchDocument] = []
    for c in vocabulary.concepts:
        if c.domain_id not in wanted or not (c.is_standard or c.is_classification):
            continue
        parents = vocabulary.parents(c.concept_id)
        head_en = f"{c.domain_id} concept, {c.vocabulary_id} {c.concept_code}."
        head_ko = f"{c.domain_id} 개념, {c.vocabulary_id} {c.concept_code}."
        text_en = f"{head_en} Is a: {'; '.join(p.concept_name for p in parents)}." if parents else head_en
        text_ko = f"{head_ko} 상위 개념: {'; '.join(p.concept_name_ko for p in parents)}." if parents else head_ko
        out.append(
            SearchDocument(
                id=f"concept:{c.concept_id}",
                kind="concept",
                title_ko=c.concept_name_ko,
                title_en=c.concept_name,
                text_ko=text_ko,
                text_en=text_en,
                keywords=(*synonyms.get(c.concept_id, ()), *sources.get(c.concept_id, ())),
                extra={
                    "concept_id": str(c.concept_id),
                    "domain_id": c.domain_id,
                    "vocabulary_id": c.vocabulary_id,
                    "concept_code": c.concept_code,
                },
            )
        )
    return out
