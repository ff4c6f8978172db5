"""A spec's concept sets resolved through the site's own vocabulary, by the cohort engine's resolver.

One resolution layer: each item goes through `dari.cohort.resolve.resolve_concept_sets` (concept by vocabulary
and code, non-standard codes through 'Maps to', descendants through `concept_ancestor`), so a feature spec and a
cohort definition give the same concept ids for the same codes. Two differences a model needs:
- a code the site does not have is *absent*, noted, never an error: a site without heart-failure codes still
  scores, with the input imputed as the spec says (the cohort engine refuses instead, since a cohort built on a
  missing code would be silently empty);
- where `concept_ancestor` is empty (dari's synthetic sites), SNOMED descendants come from dari's shipped
  hierarchy, the fallback for synthetic sites only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dari.cdm.store import CdmStore
from dari.cohort.backend import ibis_session
from dari.cohort.definition import ConceptSet, ConceptSetItem
from dari.cohort.resolve import UnknownConceptError, resolve_concept_sets
from dari.models.codes import ConceptItem
from dari.models.feature_spec import ConditionSource, FeatureSpec
from dari.vocab import shipped_vocabulary


@dataclass(frozen=True)
class ResolvedSet:
    """Standard concept ids of one input's concept set at a site, and the items it could not resolve."""

    ids: tuple[int, ...]
    absent: tuple[str, ...]  # "SNOMED 84114007: not in the concept table", …


@dataclass
class SpecResolution:
    """Every condition input of a spec at one site: its concept ids, and notes on what the site lacks."""

    sets: dict[str, ResolvedSet] = field(default_factory=dict)

    @property
    def absent_inputs(self) -> tuple[str, ...]:
        """Inputs whose concept set resolved to nothing here (they read as absent, imputed per the spec)."""
        return tuple(name for name, s in self.sets.items() if not s.ids)


def _resolve_item(store: CdmStore, item: ConceptItem, *, ancestry: bool, site: str) -> tuple[set[int], str | None]:
    """The item's standard concept ids (with descendants as asked), or no ids and why."""
    descend = item.include_descendants and ancestry
    if item.concept_id is not None:
        rows = store.query("SELECT vocabulary_id, concept_code FROM concept WHERE concept_id = ?", [item.concept_id])
        if not rows:
            return set(), f"{item.label()}: not in the concept table"
        item = item.model_copy(
            update={"vocabulary_id": str(rows[0][0]), "concept_code": str(rows[0][1]), "concept_id": None}
        )
    assert item.vocabulary_id is not None and item.concept_code is not None
    one = ConceptSet(
        id="item",
        items=[
            ConceptSetItem(
                vocabulary_id=item.vocabulary_id, concept_code=item.concept_code, include_descendants=descend
            )
        ],
    )
    try:
        with ibis_session(store) as backend:
            sets, _ = resolve_concept_sets(backend, [one], site=site)
    except UnknownConceptError as exc:
        return set(), "; ".join(p.split(": ", 1)[-1] for p in exc.problems)  # "SNOMED 84114007 not in …"
    ids = set(sets["item"])
    if item.include_descendants and not ancestry:
        ids |= _shipped_descendants(store, item)
    return ids, None


def _shipped_descendants(store: CdmStore, item: ConceptItem) -> set[int]:
    """Descendants by dari's shipped hierarchy, found in the site's concept table by code (synthetic sites)."""
    if item.vocabulary_id != "SNOMED" or item.concept_code is None:
        return set()
    vocab = shipped_vocabulary()
    concept = vocab.find_code("SNOMED", item.concept_code)
    if concept is None:
        return set()
    codes = sorted({c.concept_code for c in vocab.descendants(concept.concept_id, include_self=True)})
    marks = ", ".join("?" for _ in codes)
    rows = store.query(
        f"SELECT concept_id FROM concept WHERE vocabulary_id = 'SNOMED' AND concept_code IN ({marks})", codes
    )
    return {int(r[0]) for r in rows}


def has_ancestry(store: CdmStore) -> bool:
    """Whether the site has a concept_ancestor table holding any row (else: the shipped hierarchy's fallback)."""
    if "concept_ancestor" not in {t.lower() for t in store.table_columns()}:
        return False
    return bool(store.query("SELECT count(*) FROM concept_ancestor")[0][0])


def resolve_items(
    store: CdmStore, items: Sequence[ConceptItem], *, site: str = "this site", ancestry: bool | None = None
) -> ResolvedSet:
    """Included items' ids minus excluded items' ids; items the site cannot resolve are listed, not raised."""
    ancestry = has_ancestry(store) if ancestry is None else ancestry
    included: set[int] = set()
    excluded: set[int] = set()
    absent: list[str] = []
    for item in items:
        ids, why = _resolve_item(store, item, ancestry=ancestry, site=site)
        if why is not None:
            absent.append(why)
        (excluded if item.exclude else included).update(ids)
    return ResolvedSet(tuple(sorted(included - excluded)), tuple(absent))


def resolve_spec_concepts(store: CdmStore, spec: FeatureSpec, *, site: str = "this site") -> SpecResolution:
    """Resolve every condition input's concept set (and its SNOMED list, with descendants) at this site."""
    ancestry = has_ancestry(store)
    out = SpecResolution()
    for f in spec.features:
        if isinstance(f.source, ConditionSource):
            out.sets[f.name] = resolve_items(store, condition_items(f.source), site=site, ancestry=ancestry)
    return out


def condition_items(source: ConditionSource) -> tuple[ConceptItem, ...]:
    """The condition's concept set, with the older `snomed` list read as SNOMED items with descendants."""
    return source.concept_items()


def site_snomed_codes(store: CdmStore, spec: FeatureSpec, *, site: str = "this site") -> dict[str, tuple[str, ...]]:
    """Condition input → the SNOMED CT codes its concept set resolves to at this site: what the FHIR path needs
    (`FhirMapper(site_snomed=...)`) so an EHR's SNOMED descendant counts as the CDM's does."""
    return snomed_codes_of(store, resolve_spec_concepts(store, spec, site=site))


def snomed_codes_of(store: CdmStore, resolution: SpecResolution) -> dict[str, tuple[str, ...]]:
    """Condition input → the SNOMED CT codes of its resolved concept ids at this site."""
    out: dict[str, tuple[str, ...]] = {}
    for name, resolved in resolution.sets.items():
        ids = list(resolved.ids)
        codes: set[str] = set()
        for start in range(0, len(ids), 1000):  # bounded IN lists: an Athena descendant set can be large
            chunk = ids[start : start + 1000]
            marks = ", ".join("?" for _ in chunk)
            rows = store.query(
                f"SELECT concept_code FROM concept WHERE vocabulary_id = 'SNOMED' AND concept_id IN ({marks})", chunk
            )
            codes |= {str(r[0]) for r in rows}
        out[name] = tuple(sorted(codes))
    return out
