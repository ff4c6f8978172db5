"""The vocabulary as CDM v5.4 Arrow tables, and the source-code map an ETL joins on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from dari.cdm.schema import cdm_tables
from dari.vocab.model import (
    IS_A,
    MAPPED_FROM,
    MAPS_TO,
    NO_MATCHING_CONCEPT_ID,
    SUBSUMES,
    Concept,
    normalise_code,
)
from dari.vocab.vocabulary import Vocabulary

# Athena's conventional validity window for concepts that have never been deprecated.
VALID_START = dt.date(1970, 1, 1)
VALID_END = dt.date(2099, 12, 31)
_REVERSE = {MAPS_TO: MAPPED_FROM, IS_A: SUBSUMES}
_METADATA_VOCABULARY = {
    "vocabulary": "Vocabulary",
    "domain": "Domain",
    "concept_class": "Concept Class",
    "relationship": "Relationship",
}
_KOREAN = ("dari-local", "ko")
_ENGLISH = ("dari-local", "en")

SOURCE_CODE_MAP_SCHEMA = pa.schema(
    [
        pa.field("source_code", pa.string(), nullable=False),
        pa.field("normalised_code", pa.string(), nullable=False),
        pa.field("source_concept_id", pa.int32(), nullable=False),
        pa.field("target_concept_id", pa.int32(), nullable=False),
        pa.field("target_domain_id", pa.string(), nullable=False),
    ]
)


def cdm_arrow_schema(table: str) -> pa.Schema:
    """Arrow schema of a CDM v5.4 table: exact column names, int32/string/date32, CDM nullability."""
    types = {
        "integer": pa.int32(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "numeric": pa.float64(),
        "text": pa.string(),
    }
    return pa.schema(
        [
            pa.field(f.name, types.get(f.datatype.lower(), pa.string()), nullable=not f.required)
            for f in cdm_tables()[table].fields
        ]
    )


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = cdm_arrow_schema(name)
    return pa.Table.from_pylist(rows, schema=schema)


def _concept_row(c: Concept) -> dict[str, Any]:
    return {
        "concept_id": c.concept_id,
        "concept_name": c.concept_name,
        "domain_id": c.domain_id,
        "vocabulary_id": c.vocabulary_id,
        "concept_class_id": c.concept_class_id,
        "standard_concept": c.standard_concept,
        "concept_code": c.concept_code,
        "valid_start_date": VALID_START,
        "valid_end_date": VALID_END,
        "invalid_reason": None,
    }


def vocabulary_tables(vocab: Vocabulary) -> dict[str, pa.Table]:
    """The eight CDM vocabulary tables (concept … concept_ancestor) built from the vocabulary."""
    concept_rows = [_concept_row(c) for c in vocab.concepts]
    # Metadata rows need concepts of their own (vocabulary_concept_id etc. are NOT NULL foreign keys).
    for m in vocab.metadata:
        concept_rows.append(
            {
                "concept_id": m.concept_id,
                "concept_name": m.name,
                "domain_id": "Metadata",
                "vocabulary_id": _METADATA_VOCABULARY[m.kind],
                "concept_class_id": _METADATA_VOCABULARY[m.kind],
                "standard_concept": None,
                "concept_code": "OMOP generated",
                "valid_start_date": VALID_START,
                "valid_end_date": VALID_END,
                "invalid_reason": None,
            }
        )
    return {
        "concept": _table("concept", concept_rows),
        "vocabulary": _table(
            "vocabulary",
            [
                {
                    "vocabulary_id": m.id,
                    "vocabulary_name": m.name,
                    "vocabulary_reference": m.reference or None,
                    "vocabulary_version": m.version or None,
                    "vocabulary_concept_id": m.concept_id,
                }
                for m in vocab.metadata_of("vocabulary")
            ],
        ),
        "domain": _table(
            "domain",
            [
                {"domain_id": m.id, "domain_name": m.name, "domain_concept_id": m.concept_id}
                for m in vocab.metadata_of("domain")
            ],
        ),
        "concept_class": _table(
            "concept_class",
            [
                {
                    "concept_class_id": m.id,
                    "concept_class_name": m.name,
                    "concept_class_concept_id": m.concept_id,
                }
                for m in vocab.metadata_of("concept_class")
            ],
        ),
        "relationship": _table(
            "relationship",
            [
                {
                    "relationship_id": m.id,
                    "relationship_name": m.name,
                    "is_hierarchical": m.is_hierarchical or "0",
                    "defines_ancestry": m.defines_ancestry or "0",
                    "reverse_relationship_id": m.reverse_relationship_id,
                    "relationship_concept_id": m.concept_id,
                }
                for m in vocab.metadata_of("relationship")
            ],
        ),
        "concept_relationship": _table("concept_relationship", _relationship_rows(vocab)),
        "concept_synonym": _table("concept_synonym", _synonym_rows(vocab)),
        "concept_ancestor": _table(
            "concept_ancestor",
            [
                {
                    "ancestor_concept_id": a,
                    "descendant_concept_id": d,
                    "min_levels_of_separation": lo,
                    "max_levels_of_separation": hi,
                }
                for (a, d), (lo, hi) in sorted(vocab.ancestry().items())
            ],
        ),
    }


def _relationship_rows(vocab: Vocabulary) -> list[dict[str, Any]]:
    triples: list[tuple[int, str, int]] = []
    for r in vocab.relationships:
        triples.append((r.concept_id_1, r.relationship_id, r.concept_id_2))
        triples.append((r.concept_id_2, _REVERSE[r.relationship_id], r.concept_id_1))
    # Athena gives every standard concept a 'Maps to' itself, so an ETL can join one table for all codes.
    for c in vocab.concepts:
        if c.is_standard:
            triples.append((c.concept_id, MAPS_TO, c.concept_id))
            triples.append((c.concept_id, MAPPED_FROM, c.concept_id))
    return [
        {
            "concept_id_1": a,
            "concept_id_2": b,
            "relationship_id": rel,
            "valid_start_date": VALID_START,
            "valid_end_date": VALID_END,
            "invalid_reason": None,
        }
        for a, rel, b in sorted(set(triples))
    ]


def _synonym_rows(vocab: Vocabulary) -> list[dict[str, Any]]:
    korean = vocab.by_code(*_KOREAN).concept_id
    english = vocab.by_code(*_ENGLISH).concept_id
    language = {"ko": korean, "en": english}
    seen: set[tuple[int, str, int]] = set()
    rows: list[dict[str, Any]] = []

    def add(cid: int, name: str, lang: int) -> None:
        if name and (cid, name, lang) not in seen:
            seen.add((cid, name, lang))
            rows.append({"concept_id": cid, "concept_synonym_name": name, "language_concept_id": lang})

    for c in vocab.concepts:
        add(c.concept_id, c.concept_name, english)  # Athena lists the concept name itself as a synonym
        add(c.concept_id, c.concept_name_ko, korean)
    for s in vocab.synonyms:
        add(s.concept_id, s.synonym, language[s.language])
    return rows


def source_code_table(vocab: Vocabulary, vocabulary_id: str) -> pa.Table:
    """Source code, normalised code, source and target concept id, target domain for one vocabulary."""
    rows = []
    for c in vocab.concepts:
        if c.vocabulary_id != vocabulary_id or c.is_classification or c.concept_id == NO_MATCHING_CONCEPT_ID:
            continue
        target = vocab.maps_to(c.concept_id)
        rows.append(
            {
                "source_code": c.concept_code,
                "normalised_code": normalise_code(vocabulary_id, c.concept_code),
                "source_concept_id": c.concept_id,
                "target_concept_id": target.concept_id,
                "target_domain_id": target.domain_id,
            }
        )
    if not rows and vocabulary_id not in {m.id for m in vocab.metadata_of("vocabulary")}:
        raise KeyError(f"unknown vocabulary {vocabulary_id!r}")
    return pa.Table.from_pylist(rows, schema=SOURCE_CODE_MAP_SCHEMA)
