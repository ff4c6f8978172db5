"""Resolve a definition's codes to this site's concept ids, through its own `concept` tables.

Sites carry local concept ids (> 2e9, from the shipped vocabulary), so a definition names concepts by
(vocabulary_id, concept_code) and each site looks them up here. Rules (docs/cohort-definitions.md):
- a code missing from the site's `concept` table is an error listing every missing code with its JSON path,
  never a silent zero;
- a non-standard code (e.g. KCD8 E11) stands for the standard concepts it "Maps to" (dari's extension: clinical
  tables hold standard ids, so the source code itself would match nothing); without a mapping it is an error;
- `include_descendants` adds every descendant in `concept_ancestor` (refused when that table is empty);
- excluded items (with their descendants if asked) are removed; a set that ends up empty is an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ibis.backends.sql import SQLBackend  # type: ignore[import-untyped]

from dari.cdm.concepts import merge_gender_rows
from dari.cohort.backend import cdm_table, require_columns
from dari.cohort.definition import (
    CohortDefinition,
    ConceptRef,
    ConceptSet,
    ConceptSetItem,
    ValueRange,
    rule_criteria,
)
from dari.errors import InputError


class UnknownConceptError(InputError):
    """Codes of a definition that this site's vocabulary does not know (or cannot map to a standard concept)."""

    def __init__(self, problems: Sequence[str], site: str) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(problems)} code(s) cannot be resolved at {site}: " + "; ".join(problems))


@dataclass(frozen=True)
class ResolvedDefinition:
    """Concept ids of a definition at one site: each concept set, each unit (keyed by JSON path), each sex."""

    concept_sets: dict[str, tuple[int, ...]]
    units: dict[str, int]
    sexes: dict[int, str]  # gender concept id -> 'F' / 'M', every id that counts for a sex the definition names


@dataclass(frozen=True)
class _Concept:
    concept_id: int
    standard: bool


def _lookup(backend: SQLBackend, refs: Iterable[ConceptRef]) -> dict[tuple[str, str], _Concept]:
    wanted = {(r.vocabulary_id, r.concept_code) for r in refs}
    if not wanted:
        return {}
    concept = cdm_table(backend, "concept")
    require_columns(
        concept, "concept", ["concept_id", "vocabulary_id", "concept_code", "standard_concept", "invalid_reason"]
    )
    rows = (
        concept.filter(
            concept.vocabulary_id.isin(sorted({v for v, _ in wanted})),
            concept.concept_code.isin(sorted({c for _, c in wanted})),
        )
        .select("concept_id", "vocabulary_id", "concept_code", "standard_concept", "invalid_reason")
        .to_pyarrow()
        .to_pylist()
    )
    found: dict[tuple[str, str], _Concept] = {}
    # A code can appear twice (a deprecated row beside a valid one): the valid row wins.
    for row in sorted(rows, key=lambda r: r["invalid_reason"] is None):
        key = (row["vocabulary_id"], row["concept_code"])
        if key in wanted:
            found[key] = _Concept(int(row["concept_id"]), row["standard_concept"] in ("S", "C"))
    return found


def _maps_to(backend: SQLBackend, ids: Sequence[int]) -> dict[int, set[int]]:
    if not ids:
        return {}
    rel = cdm_table(backend, "concept_relationship")
    require_columns(rel, "concept_relationship", ["concept_id_1", "concept_id_2", "relationship_id", "invalid_reason"])
    rows = (
        rel.filter(rel.concept_id_1.isin(list(ids)), rel.relationship_id == "Maps to", rel.invalid_reason.isnull())
        .select("concept_id_1", "concept_id_2")
        .to_pyarrow()
        .to_pylist()
    )
    out: dict[int, set[int]] = {}
    for row in rows:
        out.setdefault(int(row["concept_id_1"]), set()).add(int(row["concept_id_2"]))
    return out


def _descendants(backend: SQLBackend, ids: Sequence[int], site: str) -> dict[int, set[int]]:
    if not ids:
        return {}
    ancestor = cdm_table(backend, "concept_ancestor")
    require_columns(ancestor, "concept_ancestor", ["ancestor_concept_id", "descendant_concept_id"])
    if int(ancestor.limit(1).count().to_pyarrow().as_py()) == 0:
        raise InputError(
            f"concept_ancestor is empty at {site}: include_descendants cannot be honoured; load the vocabulary's "
            "concept_ancestor table (or run the vocabulary build) first"
        )
    rows = (
        ancestor.filter(ancestor.ancestor_concept_id.isin(list(ids)))
        .select("ancestor_concept_id", "descendant_concept_id")
        .to_pyarrow()
        .to_pylist()
    )
    out: dict[int, set[int]] = {i: {i} for i in ids}
    for row in rows:
        out[int(row["ancestor_concept_id"])].add(int(row["descendant_concept_id"]))
    return out


def _value_ranges(definition: CohortDefinition) -> list[tuple[str, ValueRange]]:
    ranges = [("index.value", definition.index.value)]
    ranges += [(f"index.also[{k}].value", c.value) for k, c in enumerate(definition.index.also)]
    ranges += [(f"{p}.value", r.value) for p, r in rule_criteria(definition.inclusion_rules)]
    return [(p, v) for p, v in ranges if v is not None]


def resolve_concept_sets(
    backend: SQLBackend,
    concept_sets: Sequence[ConceptSet],
    *,
    site: str,
    path: str = "concept_sets",
    extra_refs: Sequence[tuple[str, ConceptRef]] = (),
) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Concept ids of every set (sorted), and of every extra reference keyed by its JSON path."""
    items = [
        (f"{path}[{i}].items[{j}]", cs.id, item) for i, cs in enumerate(concept_sets) for j, item in enumerate(cs.items)
    ]
    found = _lookup(backend, [item for _, _, item in items] + [ref for _, ref in extra_refs])
    problems = [f"{p}: {ref.label()} not in the concept table" for p, _, ref in items if _key(ref) not in found]
    problems += [f"{p}: {ref.label()} not in the concept table" for p, ref in extra_refs if _key(ref) not in found]
    if problems:
        raise UnknownConceptError(problems, site)
    # An `as_is` item is its own id (Circe's reading); any other non-standard code goes through 'Maps to'.
    to_map = [item for _, _, item in items if not found[_key(item)].standard and not item.as_is]
    mapped = _maps_to(backend, sorted({found[_key(item)].concept_id for item in to_map}))
    unmapped = [
        f"{p}: {item.label()} is non-standard and has no 'Maps to' relationship"
        for p, _, item in items
        if not found[_key(item)].standard and not item.as_is and found[_key(item)].concept_id not in mapped
    ]
    if unmapped:
        raise UnknownConceptError(unmapped, site)

    def roots(item: ConceptSetItem) -> set[int]:
        c = found[_key(item)]
        return {c.concept_id} if c.standard or item.as_is else mapped[c.concept_id]

    to_expand = sorted({r for _, _, item in items if item.include_descendants for r in roots(item)})
    below = _descendants(backend, to_expand, site)
    included: dict[str, set[int]] = {cs.id: set() for cs in concept_sets}
    excluded: dict[str, set[int]] = {cs.id: set() for cs in concept_sets}
    for _, set_id, item in items:
        ids = {d for r in roots(item) for d in (below[r] if item.include_descendants else {r})}
        (excluded if item.exclude else included)[set_id].update(ids)
    resolved: dict[str, tuple[int, ...]] = {}
    for i, cs in enumerate(concept_sets):
        ids = included[cs.id] - excluded[cs.id]
        if not ids:
            raise UnknownConceptError(
                [f"{path}[{i}]: concept set {cs.id!r} is empty once exclusions are removed"], site
            )
        resolved[cs.id] = tuple(sorted(ids))
    return resolved, {p: found[_key(ref)].concept_id for p, ref in extra_refs}


def _key(ref: ConceptRef) -> tuple[str, str]:
    return (ref.vocabulary_id, ref.concept_code)


def resolve_definition(backend: SQLBackend, definition: CohortDefinition, *, site: str) -> ResolvedDefinition:
    """Resolve every code in a cohort definition at this site, or raise naming each code that cannot be."""
    extra: list[tuple[str, ConceptRef]] = [(f"{p}.unit", v.unit) for p, v in _value_ranges(definition) if v.unit]
    sets, ids = resolve_concept_sets(backend, definition.concept_sets, site=site, extra_refs=extra)
    units = {p: ids[p] for p, _ in extra}
    # Sex goes through the one mapping (dari.cdm.concepts), which knows Athena's ids even where a CDM's concept
    # table lacks the Gender rows (as Eunomia's does), so a sex criterion never fails on a standard CDM.
    codes = site_sex_codes(backend) if definition.index.sex else {}
    sexes: dict[int, str] = {cid: code for cid, code in codes.items() if code in (definition.index.sex or [])}
    return ResolvedDefinition(concept_sets=sets, units=units, sexes=sexes)


def site_sex_codes(backend: SQLBackend) -> dict[int, str]:
    """Gender concept id -> 'M' / 'F' at this site (dari.cdm.concepts: Athena's 8507/8532 plus local ones)."""
    concept = cdm_table(backend, "concept")
    require_columns(concept, "concept", ["concept_id", "vocabulary_id", "concept_code"])
    rows = (
        concept.filter(concept.vocabulary_id == "Gender").select("concept_id", "concept_code").to_pyarrow().to_pylist()
    )
    return merge_gender_rows((r["concept_id"], r["concept_code"]) for r in rows)


def sex_labels(backend: SQLBackend, gender_ids: Iterable[int]) -> dict[int, str]:
    """Gender concept id -> its code ("F", "M"); ids that are not M/F Gender concepts map to "unknown"."""
    codes = site_sex_codes(backend)
    return {i: codes.get(i, "unknown") for i in sorted(set(gender_ids))}
