"""Value types of the vocabulary (concept, synonym, relationship, metadata) and source-code normalisation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# OMOP reserves concept_id > 2,000,000,000 for site-local concepts; all dari ids live there except 0.
LOCAL_CONCEPT_ID_MIN = 2_000_000_000
NO_MATCHING_CONCEPT_ID = 0

Language = Literal["en", "ko"]
MetadataKind = Literal["vocabulary", "domain", "concept_class", "relationship"]

MAPS_TO = "Maps to"
MAPPED_FROM = "Mapped from"
IS_A = "Is a"
SUBSUMES = "Subsumes"

# Vocabularies whose codes are ICD-10 shaped: hospitals write them with or without the dot.
KCD_VOCABULARIES = frozenset({"KCD8", "KCD7", "ICD10", "ICD10CM"})
# Vocabularies whose codes are case-insensitive by definition; UCUM is deliberately absent (mg ≠ Mg).
_UPPER_CASE_VOCABULARIES = frozenset({"ATC", "EDI", "dari-local"}) | KCD_VOCABULARIES
# Dagger/asterisk and similar markers that Korean EMRs append to KCD codes (e.g. "E11.2†", "N08.3*").
_KCD_MARKERS = re.compile(r"[\s.†‡*+!]")


@dataclass(frozen=True, slots=True)
class Concept:
    """One concept: English and Korean name, OMOP classification and the code it stands for."""

    concept_id: int
    concept_name: str
    concept_name_ko: str
    domain_id: str
    vocabulary_id: str
    concept_class_id: str
    standard_concept: str | None
    concept_code: str
    athena_concept_id: int | None = None
    note: str = ""

    @property
    def is_standard(self) -> bool:
        """Whether OMOP analyses may use this concept directly (standard_concept 'S')."""
        return self.standard_concept == "S"

    @property
    def is_classification(self) -> bool:
        """Whether this is a classification concept ('C'), e.g. an ATC class: usable as an ancestor only."""
        return self.standard_concept == "C"


@dataclass(frozen=True, slots=True)
class Synonym:
    """An alternative name (abbreviation, lay term) for a concept in one language."""

    concept_id: int
    language: Language
    synonym: str


@dataclass(frozen=True, slots=True)
class Relationship:
    """A directed link between two concepts ('Maps to' or 'Is a' in the data files)."""

    concept_id_1: int
    relationship_id: str
    concept_id_2: int


@dataclass(frozen=True, slots=True)
class MetadataEntry:
    """A row of the CDM vocabulary, domain, concept_class or relationship table, with its own concept."""

    kind: MetadataKind
    id: str
    name: str
    concept_id: int
    reference: str = ""
    version: str = ""
    reverse_relationship_id: str = ""
    is_hierarchical: str = ""
    defines_ancestry: str = ""


def normalise_kcd_code(code: str) -> str:
    """A KCD/ICD-10 code in canonical form: upper case, no dot, space or dagger mark ('e11.9†' → 'E119')."""
    return _KCD_MARKERS.sub("", code).upper()


def kcd_with_dot(code: str) -> str:
    """A KCD/ICD-10 code written with its dot after the category ('E119' → 'E11.9', 'I10' → 'I10')."""
    bare = normalise_kcd_code(code)
    return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"


def normalise_code(vocabulary_id: str, code: str) -> str:
    """The form of a source code that look-ups and ETL joins compare on, by the rules of its vocabulary."""
    if vocabulary_id in KCD_VOCABULARIES:
        return normalise_kcd_code(code)
    stripped = code.strip()
    return stripped.upper() if vocabulary_id in _UPPER_CASE_VOCABULARIES else stripped


def normalise_term(text: str) -> str:
    """A free-text name reduced for matching: case-folded, all whitespace removed.

    Korean spacing is inconsistent in practice ('만성 신장병' / '만성신장병'), so spaces never count.
    """
    return "".join(text.split()).casefold()
