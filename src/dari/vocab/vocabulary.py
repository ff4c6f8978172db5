"""The immutable in-memory vocabulary: look-ups by id, code and term, mappings and the 'Is a' hierarchy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from dari.vocab.model import (
    IS_A,
    MAPS_TO,
    Concept,
    MetadataEntry,
    MetadataKind,
    Relationship,
    Synonym,
    normalise_code,
    normalise_term,
)

if TYPE_CHECKING:
    import pyarrow as pa

# (ancestor id, descendant id) -> (min, max) levels of separation, as in CDM concept_ancestor.
AncestorMap = Mapping[tuple[int, int], tuple[int, int]]


def compute_ancestry(concept_ids: Iterable[int], parents: Mapping[int, tuple[int, ...]]) -> AncestorMap:
    """Transitive closure of 'Is a' with min/max levels; each concept is its own ancestor at level 0.

    The graph must be acyclic (validated on load); memoised per concept, so linear in the closure size.
    """
    memo: dict[int, dict[int, tuple[int, int]]] = {}

    def up(cid: int) -> dict[int, tuple[int, int]]:
        if cid in memo:
            return memo[cid]
        levels: dict[int, tuple[int, int]] = {cid: (0, 0)}
        for parent in parents.get(cid, ()):
            for anc, (lo, hi) in up(parent).items():
                old = levels.get(anc)
                levels[anc] = (lo + 1, hi + 1) if old is None else (min(old[0], lo + 1), max(old[1], hi + 1))
        memo[cid] = levels
        return levels

    out: dict[tuple[int, int], tuple[int, int]] = {}
    for cid in concept_ids:
        for anc, lv in up(cid).items():
            out[(anc, cid)] = lv
    return out


@dataclass(frozen=True)
class Vocabulary:
    """A validated, read-only set of concepts with synonyms, relationships and CDM metadata.

    Build it with `dari.vocab.load_vocabulary` (which validates); the constructor trusts its input.
    """

    concepts: tuple[Concept, ...]
    synonyms: tuple[Synonym, ...]
    relationships: tuple[Relationship, ...]
    metadata: tuple[MetadataEntry, ...]
    _by_id: Mapping[int, Concept] = field(init=False, repr=False)
    _by_code: Mapping[tuple[str, str], Concept] = field(init=False, repr=False)
    _maps_to: Mapping[int, int] = field(init=False, repr=False)
    _parents: Mapping[int, tuple[int, ...]] = field(init=False, repr=False)
    _ancestry: AncestorMap = field(init=False, repr=False)
    _terms: Mapping[str, tuple[int, ...]] = field(init=False, repr=False)
    _up: Mapping[int, tuple[tuple[int, int], ...]] = field(init=False, repr=False)
    _down: Mapping[int, tuple[tuple[int, int], ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Indexes are derived once; frozen=True forbids reassignment, so object.__setattr__ is the one way in.
        by_id = {c.concept_id: c for c in self.concepts}
        by_code = {(c.vocabulary_id, normalise_code(c.vocabulary_id, c.concept_code)): c for c in self.concepts}
        maps = {r.concept_id_1: r.concept_id_2 for r in self.relationships if r.relationship_id == MAPS_TO}
        parents: dict[int, list[int]] = {}
        for r in self.relationships:
            if r.relationship_id == IS_A:
                parents.setdefault(r.concept_id_1, []).append(r.concept_id_2)
        frozen_parents = {k: tuple(v) for k, v in parents.items()}
        hierarchical = [c.concept_id for c in self.concepts if c.is_standard or c.is_classification]
        terms: dict[str, set[int]] = {}
        for c in self.concepts:
            for name in (c.concept_name, c.concept_name_ko):
                if name:
                    terms.setdefault(normalise_term(name), set()).add(c.concept_id)
        for s in self.synonyms:
            terms.setdefault(normalise_term(s.synonym), set()).add(s.concept_id)
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))
        object.__setattr__(self, "_by_code", MappingProxyType(by_code))
        object.__setattr__(self, "_maps_to", MappingProxyType(maps))
        object.__setattr__(self, "_parents", MappingProxyType(frozen_parents))
        ancestry = compute_ancestry(hierarchical, frozen_parents)
        up: dict[int, list[tuple[int, int]]] = {}
        down: dict[int, list[tuple[int, int]]] = {}
        for (anc, desc), (lo, _) in ancestry.items():
            up.setdefault(desc, []).append((lo, anc))
            down.setdefault(anc, []).append((lo, desc))
        object.__setattr__(self, "_ancestry", MappingProxyType(ancestry))
        object.__setattr__(self, "_up", MappingProxyType({k: tuple(sorted(v)) for k, v in up.items()}))
        object.__setattr__(self, "_down", MappingProxyType({k: tuple(sorted(v)) for k, v in down.items()}))
        object.__setattr__(self, "_terms", MappingProxyType({k: tuple(sorted(v)) for k, v in terms.items()}))

    def __len__(self) -> int:
        return len(self.concepts)

    def __contains__(self, concept_id: object) -> bool:
        return concept_id in self._by_id

    def concept(self, concept_id: int) -> Concept:
        """The concept with this id; KeyError when unknown."""
        try:
            return self._by_id[concept_id]
        except KeyError:
            raise KeyError(f"no concept with concept_id {concept_id}") from None

    def by_code(self, vocabulary_id: str, code: str) -> Concept:
        """The concept for a source or standard code, compared in normalised form ('E119' finds 'E11.9')."""
        try:
            return self._by_code[(vocabulary_id, normalise_code(vocabulary_id, code))]
        except KeyError:
            raise KeyError(f"no concept for {vocabulary_id} code {code!r}") from None

    def find_code(self, vocabulary_id: str, code: str) -> Concept | None:
        """Like `by_code`, but None when the code is unknown (for ETL loops that count misses)."""
        return self._by_code.get((vocabulary_id, normalise_code(vocabulary_id, code)))

    def maps_to(self, source_concept_id: int) -> Concept:
        """The standard concept a concept maps to; a standard concept maps to itself."""
        source = self.concept(source_concept_id)
        if source.is_standard:
            return source
        target = self._maps_to.get(source_concept_id)
        if target is None:
            raise KeyError(
                f"concept {source_concept_id} ({source.vocabulary_id} {source.concept_code}) "
                "has no 'Maps to' relationship"
            )
        return self._by_id[target]

    def parents(self, concept_id: int) -> tuple[Concept, ...]:
        """Direct 'Is a' parents of a concept."""
        self.concept(concept_id)
        return tuple(self._by_id[p] for p in self._parents.get(concept_id, ()))

    def ancestors(self, concept_id: int, *, include_self: bool = False) -> tuple[Concept, ...]:
        """All 'Is a' ancestors of a concept, nearest first (ties by id)."""
        return self._related(concept_id, include_self, ancestors=True)

    def descendants(self, concept_id: int, *, include_self: bool = False) -> tuple[Concept, ...]:
        """All 'Is a' descendants of a concept, nearest first (ties by id)."""
        return self._related(concept_id, include_self, ancestors=False)

    def _related(self, concept_id: int, include_self: bool, *, ancestors: bool) -> tuple[Concept, ...]:
        self.concept(concept_id)
        found = (self._up if ancestors else self._down).get(concept_id, ())
        return tuple(self._by_id[cid] for _, cid in found if include_self or cid != concept_id)

    def ancestry(self) -> AncestorMap:
        """The full concept_ancestor closure: (ancestor, descendant) → (min, max) levels of separation."""
        return self._ancestry

    def by_term(self, text: str) -> tuple[Concept, ...]:
        """Concepts whose name or synonym (en/ko) equals `text`, case and spaces ignored; standard first."""
        hits = [self._by_id[cid] for cid in self._terms.get(normalise_term(text), ())]
        return tuple(sorted(hits, key=lambda c: (not c.is_standard, c.concept_id)))

    def metadata_of(self, kind: MetadataKind) -> tuple[MetadataEntry, ...]:
        """Metadata rows of one kind (vocabulary, domain, concept_class or relationship)."""
        return tuple(m for m in self.metadata if m.kind == kind)

    def to_arrow(self) -> dict[str, pa.Table]:
        """The CDM v5.4 vocabulary tables as Arrow tables, keyed by table name."""
        from dari.vocab.arrow import vocabulary_tables

        return vocabulary_tables(self)

    def source_code_map(self, vocabulary_id: str) -> pa.Table:
        """The table an ETL joins on: source/normalised code, source and target concept id, target domain."""
        from dari.vocab.arrow import source_code_table

        return source_code_table(self, vocabulary_id)
