"""What a published dataset holds: the concepts of its protected characterisation, named in both languages.

A site's characterisation lists its top concepts per domain with protected person counts and the site's own
(English) concept name. Search and the concept pages need more: the Korean name and synonyms from the shipped
vocabulary, and the concept's ancestors, so 'kidney' or 'CKD' finds a dataset holding 'Chronic kidney disease
stage 3'. Counts are carried as published (`shown`, e.g. '<10'); they are never summed or recomputed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dari.vocab import Vocabulary


@dataclass(frozen=True, slots=True)
class HeldConcept:
    """One concept of a dataset's characterisation: id, domain, names, and the protected person count shown."""

    concept_id: int
    domain: str
    name_en: str
    name_ko: str
    shown: str
    value: int | None


def held_concepts(characterisation: Mapping[str, Any] | None, vocabulary: Vocabulary | None) -> list[HeldConcept]:
    """The concepts a characterisation (as stored: JSON) lists, with Korean names where the vocabulary has them."""
    if not characterisation:
        return []
    out: list[HeldConcept] = []
    for domain, concepts in (characterisation.get("top") or {}).items():
        for c in concepts:
            cid = int(c["concept_id"])
            name_ko = ""
            if vocabulary is not None:
                try:
                    name_ko = vocabulary.concept(cid).concept_name_ko or ""
                except KeyError:
                    name_ko = ""
            persons = c.get("persons") or {}
            out.append(HeldConcept(cid, str(domain), str(c.get("name", "")), name_ko, *_count(persons)))
    return out


def _count(persons: Mapping[str, Any]) -> tuple[str, int | None]:
    value = persons.get("value")
    return str(persons.get("shown", "")), int(value) if isinstance(value, int) else None


def ancestors(vocabulary: Vocabulary, concept_id: int) -> list[int]:
    """The concept's 'Is a' ancestors, nearest first (none for a concept the vocabulary does not hold)."""
    try:
        return [c.concept_id for c in vocabulary.ancestors(concept_id)]
    except KeyError:
        return []


def concept_terms(vocabulary: Vocabulary | None, held: Iterable[HeldConcept]) -> list[str]:
    """The words a dataset is found by for the concepts it holds: names, synonyms and ancestors' names."""
    out: list[str] = []
    synonyms: dict[int, list[str]] = {}
    if vocabulary is not None:
        for s in vocabulary.synonyms:
            synonyms.setdefault(s.concept_id, []).append(s.synonym)
    for h in held:
        out.extend(n for n in (h.name_ko, h.name_en) if n)
        if vocabulary is None:
            continue
        out.extend(synonyms.get(h.concept_id, ()))
        for a in ancestors(vocabulary, h.concept_id):
            concept = vocabulary.concept(a)
            out.extend(n for n in (concept.concept_name_ko, concept.concept_name) if n)
    return list(dict.fromkeys(out))


def holds(held: Iterable[HeldConcept], vocabulary: Vocabulary | None, concept_id: int) -> list[HeldConcept]:
    """The held concepts that are `concept_id` itself or below it ('Is a' descendants), the concept first."""
    direct = [h for h in held if h.concept_id == concept_id]
    if vocabulary is None:
        return direct
    below = [h for h in held if h.concept_id != concept_id and concept_id in ancestors(vocabulary, h.concept_id)]
    return [*direct, *below]
