"""Spec concept sets resolved through a synthetic site's own vocabulary: descendants, exclusions, 'Maps to',
absent codes, and the older single-list form giving the same ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dari.care.fhir_conditions import ConditionMatcher
from dari.care.fhir_models import CodeableConcept
from dari.cdm.store import CdmStore, open_store
from dari.errors import InputError
from dari.models.codes import ConceptItem
from dari.models.concept_sets import resolve_items, resolve_spec_concepts, site_snomed_codes
from dari.models.feature_spec import ConditionSource, Feature, parse_spec
from dari.models.reference_spec import reference_spec

DIABETES, TYPE_2, TYPE_2_RENAL, TYPE_1 = "73211009", "44054006", "420279001", "46635009"


@pytest.fixture()
def store(models_site: Path) -> Iterator[CdmStore]:
    s = open_store(models_site)
    yield s
    s.close()


def _codes(store: CdmStore, ids: tuple[int, ...]) -> set[str]:
    marks = ", ".join("?" for _ in ids)
    return {str(r[0]) for r in store.query(f"SELECT concept_code FROM concept WHERE concept_id IN ({marks})", ids)}


def _item(code: str, **kw: bool) -> ConceptItem:
    return ConceptItem(vocabulary_id="SNOMED", concept_code=code, **kw)


def test_concept_set_exclusion_removes_the_subtree(store: CdmStore) -> None:
    # Execute
    resolved = resolve_items(store, [_item(DIABETES), _item(TYPE_2, exclude=True)])
    # Assert
    codes = _codes(store, resolved.ids)
    assert DIABETES in codes and TYPE_1 in codes
    assert TYPE_2 not in codes and TYPE_2_RENAL not in codes and resolved.absent == ()


def test_concept_set_without_descendants_is_the_code_alone(store: CdmStore) -> None:
    # Execute
    resolved = resolve_items(store, [_item(DIABETES, include_descendants=False)])
    # Assert
    assert _codes(store, resolved.ids) == {DIABETES}


def test_concept_set_source_code_follows_maps_to(store: CdmStore) -> None:
    # Execute: KCD8 E11.6 is non-standard at the site and 'Maps to' type 2 diabetes
    resolved = resolve_items(store, [ConceptItem(vocabulary_id="KCD8", concept_code="E11.6")])
    # Assert
    assert TYPE_2 in _codes(store, resolved.ids)


def test_concept_set_code_the_site_lacks_is_noted_not_raised(store: CdmStore) -> None:
    # Execute
    resolved = resolve_items(store, [_item(DIABETES), _item("11687002", exclude=True), _item("999999999")])
    # Assert: the rest of the set still counts
    assert len(resolved.absent) == 2 and all("not in the concept table" in a for a in resolved.absent)
    assert DIABETES in _codes(store, resolved.ids)


def test_older_snomed_list_resolves_like_the_concept_set(store: CdmStore) -> None:
    # Prepare: the reference spec in its earlier single-list form
    data = reference_spec().model_dump(mode="json")
    for f in data["features"]:
        if f["source"]["kind"] == "condition":
            f["source"]["snomed"] = [f["source"]["concepts"][0]["concept_code"]]
            del f["source"]["concepts"]
    old = parse_spec(data)
    # Execute
    before = resolve_spec_concepts(store, old)
    now = resolve_spec_concepts(store, reference_spec())
    # Assert
    assert before.sets == now.sets and before.absent_inputs == ()
    assert site_snomed_codes(store, old) == site_snomed_codes(store, reference_spec())


def test_fhir_matcher_applies_spec_exclusions_without_a_site() -> None:
    # Prepare
    spec = reference_spec()
    base = spec.feature("diabetes")
    source = ConditionSource(kind="condition", concepts=(_item(DIABETES), _item(TYPE_2, exclude=True)))
    feature = Feature.model_validate(base.model_dump() | {"source": source.model_dump()})
    matcher = ConditionMatcher(feature)

    def coded(code: str) -> CodeableConcept:
        return CodeableConcept.model_validate({"coding": [{"system": "http://snomed.info/sct", "code": code}]})

    # Execute / Assert: type 1 counts, a subtype of the excluded type 2 does not
    assert matcher.matches(coded(TYPE_1)) and not matcher.matches(coded(TYPE_2_RENAL))


def test_concept_set_listing_a_code_twice_is_refused() -> None:
    # Prepare
    data = reference_spec().model_dump(mode="json")
    data["features"][5]["source"]["concepts"].append(data["features"][5]["source"]["concepts"][0])
    # Execute / Assert
    with pytest.raises(InputError, match="twice"):
        parse_spec(data)
