"""One condition feature from FHIR R4 Conditions: codings, clinical and verification status, onset, abatement.

- **Code**: a SNOMED CT coding among the spec's concept set (SNOMED items, with descendants by dari's shipped
  hierarchy, exclusions removed: what the CDM path falls back to), plus the codes the caller gives from the
  site's own vocabulary (`dari.models.concept_sets.site_snomed_codes`, loaded by the CDS service at start); or
  a KCD coding (KR Core's kcd-8 / kcd-7) or ICD-10 coding (WHO or -CM, URL or OID) starting with a listed KCD
  prefix (KCD-8 is ICD-10 with Korean extensions: the categories coincide). Any coding in `code.coding` may
  match. A Condition with no coding in a system dari reads is noted and not counted.
- **verificationStatus**: refuted and entered-in-error never count; unconfirmed, provisional and differential
  do not count either (not a diagnosis yet; noted in the response); confirmed or absent counts.
- **clinicalStatus**: active, recurrence and relapse count; inactive, remission and resolved do not, unless the
  abatement date lies after the evaluation date (it was still active then: a replay of an earlier day).
  Absent (allowed for encounter diagnoses) counts unless the condition abated on or before the evaluation date.
- **Onset** (`onsetDateTime`, `onsetPeriod.start`, else `recordedDate`) on or before the evaluation date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from dari.care.fhir_models import CodeableConcept, Condition
from dari.care.fhir_observations import coded_as, unread_systems
from dari.care.fhir_time import local_days
from dari.care.fhir_units import system_name
from dari.models.feature_spec import ConditionSource, Feature
from dari.models.inputs import FeatureValueError
from dari.vocab import normalise_kcd_code, shipped_vocabulary

CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
INACTIVE_CLINICAL = frozenset({"inactive", "remission", "resolved"})
_UNDATED_ABATEMENT = ("abatementAge", "abatementRange", "abatementString")
NOT_COUNTED_VERIFICATION = frozenset({"refuted", "entered-in-error", "unconfirmed", "provisional", "differential"})


@dataclass(frozen=True)
class Found:
    """Whether the condition is present, the resource that says so, and notes on Conditions not counted."""

    present: bool
    source: str | None
    notes: tuple[str, ...]


def _status(concept: CodeableConcept | None, system: str) -> str | None:
    codes = [c.code for c in (concept.coding if concept else None) or () if c.system == system and c.code]
    return codes[0] if codes else None


def _first_day(value: Any, tz: ZoneInfo) -> date | None:
    days = local_days(value, tz) if value is not None else None
    return days[0] if days else None


class ConditionMatcher:
    """Matches one condition feature; the SNOMED descendant set is computed once."""

    def __init__(self, f: Feature, site_snomed: Iterable[str] = ()) -> None:
        """`site_snomed`: more SNOMED CT codes that name the condition (the descendants the site's own vocabulary
        gives the spec's codes), matched like the spec's own."""
        src = f.source
        assert isinstance(src, ConditionSource)
        self.feature, self.kcd = f, src.kcd
        self.snomed = frozenset(_shipped_snomed(src) | set(site_snomed))

    def matches(self, concept: CodeableConcept | None) -> bool:
        """Whether any coding names the feature's condition."""
        codings = concept.coding if concept else None
        if coded_as(codings, "snomed", self.snomed):
            return True
        prefixed = [
            normalise_kcd_code(c.code) for c in codings or () if c.code and system_name(c.system) in ("kcd", "icd10")
        ]
        return any(k.startswith(self.kcd) for k in prefixed) if self.kcd else False

    def find(self, conditions: tuple[Condition, ...], at: date, tz: ZoneInfo) -> Found:
        """The first Condition that counts on `at`, with notes on the matching ones that do not."""
        notes: list[str] = []
        for i, cond in enumerate(conditions):
            name = f"Condition/{cond.id or i}"
            if not self.matches(cond.code):
                continue
            verification = _status(cond.verificationStatus, VERIFICATION_SYSTEM)
            if verification in NOT_COUNTED_VERIFICATION:
                notes.append(f"{name}: verificationStatus {verification!r} is not counted")
                continue
            onset = cond.onsetDateTime or (cond.onsetPeriod.start if cond.onsetPeriod else None) or cond.recordedDate
            when = local_days(onset, tz) if onset is not None else None
            if when is not None and when[0] > at:
                continue
            if when is not None and when[1] > at:
                raise FeatureValueError(
                    self.feature, "date", f"{name} onset is too imprecise to tell whether it precedes {at}"
                )
            abated = _first_day(
                cond.abatementDateTime or (cond.abatementPeriod.start if cond.abatementPeriod else None), tz
            )
            clinical = _status(cond.clinicalStatus, CLINICAL_SYSTEM)
            still_active_then = abated is not None and abated > at
            if clinical in INACTIVE_CLINICAL and not still_active_then:
                notes.append(f"{name}: clinicalStatus {clinical!r} is not counted")
                continue
            # abatementAge, abatementRange and abatementString say it ended without a date: ended, as far as known
            ended = abated is not None or any(cond.element(e) is not None for e in _UNDATED_ABATEMENT)
            if clinical is None and ended and not still_active_then:
                notes.append(f"{name}: abated (abatement[x]) and no clinicalStatus says otherwise, not counted")
                continue
            return Found(True, name, tuple(notes))
        return Found(False, None, tuple(notes))


def _shipped_snomed(src: ConditionSource) -> set[str]:
    """The SNOMED items of the condition's concept set by dari's shipped hierarchy, exclusions removed: what
    counts when no site vocabulary was loaded (synthetic sites, tests)."""
    vocab = shipped_vocabulary()
    included: set[str] = set()
    excluded: set[str] = set()
    for item in src.concept_items():
        if item.vocabulary_id != "SNOMED" or item.concept_code is None:
            continue  # a concept_id item needs the site's vocabulary (--cdm) to be known by code
        codes = {item.concept_code}
        concept = vocab.find_code("SNOMED", item.concept_code) if item.include_descendants else None
        if concept is not None:
            codes |= {c.concept_code for c in vocab.descendants(concept.concept_id, include_self=True)}
        (excluded if item.exclude else included).update(codes)
    return included - excluded


def unread_condition_notes(conditions: tuple[Condition, ...]) -> list[str]:
    """A note for each Condition none of whose codings is in a system dari reads."""
    notes = []
    for i, cond in enumerate(conditions):
        codings = cond.code.coding if cond.code else None
        if codings and all(system_name(c.system) is None for c in codings):
            systems = ", ".join(unread_systems(codings))
            notes.append(f"Condition/{cond.id or i}: no coding in a system dari reads ({systems}); not counted")
    return notes
