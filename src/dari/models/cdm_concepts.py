"""Terminology codes of a feature spec → this CDM's concept ids, looked up in its own vocabulary tables.

Sites number local concepts as they like (dari's synthetic sites use ids above 2,000,000,000), so ids are never
written into a spec or into code: LOINC and UCUM codes are found by vocabulary_id + concept_code, SNOMED CT
descendants through `concept_ancestor` (or dari's shipped hierarchy when a CDM left that table empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dari.cdm.store import CdmStore
from dari.models.codes import LabCode
from dari.models.concept_sets import condition_items, has_ancestry, resolve_items
from dari.models.feature_spec import ConditionSource
from dari.models.units import unit_factor
from dari.vocab import normalise_kcd_code

# Athena's standard Gender concepts; a CDM built on Athena uses these, dari's own vocabulary local ones (found
# by code 'M'/'F' in vocabulary 'Gender').
ATHENA_MALE = 8507
ATHENA_FEMALE = 8532
KCD_VOCABULARIES = ("KCD8", "KCD7")


@dataclass
class ConceptLookup:
    """Looks codes up in one CDM, noting codes it does not have (a feature that can never be found)."""

    store: CdmStore
    notes: list[str] = field(default_factory=list)
    _has_ancestry: bool | None = None

    def _ids(self, vocabulary: str, codes: tuple[str, ...]) -> dict[str, list[int]]:
        if not codes:
            return {}
        marks = ", ".join("?" for _ in codes)
        rows = self.store.query(
            f"SELECT concept_code, concept_id FROM concept WHERE vocabulary_id = ? AND concept_code IN ({marks})",
            [vocabulary, *codes],
        )
        found: dict[str, list[int]] = {}
        for code, cid in rows:
            found.setdefault(str(code), []).append(int(cid))
        for code in codes:
            if code not in found:
                self.notes.append(f"{vocabulary} {code} is not in this CDM's concept table")
        return found

    def lab_pairs(self, code: LabCode) -> list[tuple[int, int, float]]:
        """(measurement concept id, unit concept id, factor to the spec's unit) for every accepted pairing: the
        spec's declared units, then any other UCUM unit the site records these codes in that `dari.models.units`
        converts (the table the FHIR path uses, so kPa or µmol/L give the same input either way)."""
        measurements = [cid for ids in self._ids("LOINC", code.codes).values() for cid in ids]
        factors = [(code.unit, 1.0), *((c.unit, c.factor) for c in code.convert)]
        unit_ids = self._ids("UCUM", tuple(unit for unit, _ in factors))
        pairs = [(m, u, factor) for unit, factor in factors for m in measurements for u in unit_ids.get(unit, [])]
        if not measurements:
            return pairs
        declared = {u for ids in unit_ids.values() for u in ids}
        marks = ", ".join("?" for _ in measurements)
        used = self.store.query(
            f"SELECT DISTINCT m.measurement_concept_id, u.concept_id, u.concept_code FROM measurement m "
            f"JOIN concept u ON u.concept_id = m.unit_concept_id "
            f"WHERE u.vocabulary_id = 'UCUM' AND m.measurement_concept_id IN ({marks})",
            measurements,
        )
        for m, u, unit in used:
            factor = unit_factor(code, str(unit)) if int(u) not in declared else None
            if factor is not None:
                pairs.append((int(m), int(u), factor))
        return pairs

    def lab_ids(self, code: LabCode) -> list[int]:
        """Measurement concept ids of the code's LOINC codes, whatever the unit."""
        return sorted({cid for ids in self._ids("LOINC", code.codes).values() for cid in ids})

    def condition_ids(self, source: ConditionSource) -> tuple[list[int], list[int]]:
        """(standard condition concept ids incl. descendants, KCD source concept ids) for a condition.

        The concept set (and the `snomed` list) resolve through `dari.models.concept_sets`, the cohort engine's
        resolver; a code the site lacks is noted and the rest still counts."""
        if self._has_ancestry is None:
            self._has_ancestry = has_ancestry(self.store)
            if not self._has_ancestry:
                self.notes.append("concept_ancestor is empty: SNOMED descendants from dari's shipped hierarchy")
        resolved = resolve_items(self.store, condition_items(source), ancestry=self._has_ancestry)
        self.notes.extend(resolved.absent)
        return list(resolved.ids), self._kcd_ids(source.kcd)

    def _kcd_ids(self, prefixes: tuple[str, ...]) -> list[int]:
        if not prefixes:
            return []
        marks = ", ".join("?" for _ in KCD_VOCABULARIES)
        rows = self.store.query(
            f"SELECT concept_code, concept_id FROM concept WHERE vocabulary_id IN ({marks})", list(KCD_VOCABULARIES)
        )
        ids = sorted({int(cid) for code, cid in rows if normalise_kcd_code(str(code)).startswith(prefixes)})
        if not ids:
            self.notes.append(f"no KCD concept in this CDM starts with {', '.join(prefixes)}")
        return ids

    def gender_ids(self) -> tuple[list[int], list[int]]:
        """(male concept ids, female concept ids): the one sex mapping of `dari.cdm.concepts`."""
        from dari.cdm.concepts import gender_ids, sex_codes

        return gender_ids(sex_codes(self.store))
