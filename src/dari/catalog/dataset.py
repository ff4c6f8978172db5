"""A site's dataset record for the hub catalog, modelled on HealthDCAT-AP, exported as DCAT JSON-LD.

Everything numeric in the record is a disclosure-controlled count; nothing here is a row.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from dari.catalog.characterise import Characterisation
from dari.cdm.store import CdmStore
from dari.cdm.version import read_cdm_version
from dari.disclosure import protect_count

_EVENT_TABLES = (
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "measurement",
    "procedure_occurrence",
    "observation",
    "note",
    "death",
)
# The source coding systems the CDM maps from (KCD-8, ATC, local codes…), for hasCodingSystem.
_SOURCE_VOCABULARIES = (
    "SELECT DISTINCT c.vocabulary_id FROM concept c JOIN concept_relationship r ON r.concept_id_1 = c.concept_id "
    "WHERE r.relationship_id = 'Maps to' AND c.standard_concept IS NULL ORDER BY 1"
)
_CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "healthdcatap": "http://healthdataportal.eu/ns/health#",
    "dqv": "http://www.w3.org/ns/dqv#",
}


class DatasetRecord(BaseModel):
    """What a hospital publishes about its CDM: bilingual text, coverage, population and quality."""

    model_config = ConfigDict(frozen=True)
    identifier: str
    title: dict[str, str]
    description: dict[str, str]
    publisher: dict[str, str]
    contact_point: str
    themes: list[str]
    keywords: dict[str, list[str]]
    temporal_start: str | None
    temporal_end: str | None
    number_of_records: str
    number_of_unique_individuals: str
    min_typical_age: int | None
    max_typical_age: int | None
    coding_systems: list[str]
    cdm_version: str
    access_rights: str
    quality_score: float | None
    # Where the hospital is (시/도, {'ko': '광주광역시', 'en': 'Gwangju'}); optional: the hub derives it from the
    # publisher's name when absent (dari.hub.search.places). Exported as dct:spatial.
    region: dict[str, str] | None = None

    def to_jsonld(self) -> str:
        """The record as DCAT / HealthDCAT-AP JSON-LD (language-tagged literals for Korean and English)."""

        def lang(values: dict[str, str]) -> list[dict[str, str]]:
            return [{"@value": v, "@language": k} for k, v in values.items()]

        doc: dict[str, Any] = {
            "@context": _CONTEXT,
            "@id": f"urn:dari:dataset:{self.identifier}",
            "@type": "dcat:Dataset",
            "dct:identifier": self.identifier,
            "dct:title": lang(self.title),
            "dct:description": lang(self.description),
            "dct:publisher": {"@type": "foaf:Organization", "foaf:name": lang(self.publisher)},
            "dcat:contactPoint": {"@type": "vcard:Kind", "vcard:hasEmail": self.contact_point},
            "dcat:theme": self.themes,
            "dcat:keyword": [{"@value": w, "@language": k} for k, words in self.keywords.items() for w in words],
            "dct:temporal": {
                "@type": "dct:PeriodOfTime",
                "dcat:startDate": self.temporal_start,
                "dcat:endDate": self.temporal_end,
            },
            "healthdcatap:numberOfRecords": self.number_of_records,
            "healthdcatap:numberOfUniqueIndividuals": self.number_of_unique_individuals,
            "healthdcatap:minTypicalAge": self.min_typical_age,
            "healthdcatap:maxTypicalAge": self.max_typical_age,
            "healthdcatap:hasCodingSystem": self.coding_systems,
            "dct:conformsTo": f"OMOP CDM {self.cdm_version}",
            "dct:accessRights": self.access_rights,
            "dqv:hasQualityMeasurement": None
            if self.quality_score is None
            else {
                "@type": "dqv:QualityMeasurement",
                "dqv:value": self.quality_score,
                "dqv:isMeasurementOf": "dari cdm check overall score (percent of decided checks passed)",
            },
        }
        if self.region:
            doc["@context"] = {**_CONTEXT, "rdfs": "http://www.w3.org/2000/01/rdf-schema#"}
            doc["dct:spatial"] = {"@type": "dct:Location", "rdfs:label": lang(self.region)}
        return json.dumps(doc, ensure_ascii=False, indent=2)


def describe(
    store: CdmStore,
    characterisation: Characterisation,
    *,
    identifier: str,
    quality_score: float | None,
    contact_point: str = "data-steward@example.org",
) -> DatasetRecord:
    """Build the record from the CDM's own metadata (cdm_source, vocabulary) and its protected characterisation."""
    source = store.query("SELECT cdm_source_name, cdm_holder FROM cdm_source")
    name_en, holder = source[0] if source else (identifier, identifier)
    version = read_cdm_version(store)
    lo, hi = store.query(
        "SELECT min(observation_period_start_date), max(observation_period_end_date) FROM observation_period"
    )[0]
    vocabularies = [str(v) for (v,) in store.query(_SOURCE_VOCABULARIES)]
    events = sum(int(store.query(f"SELECT count(*) FROM {t}")[0][0]) for t in _EVENT_TABLES)
    bands = [a.age_band for a in characterisation.age_sex if not a.persons.suppressed]
    ages = sorted(int(b.split("-")[0].rstrip("+")) for b in bands)  # "90+" is the open top band
    top = [c.name for concepts in characterisation.top.values() for c in concepts[:3]]
    return DatasetRecord(
        identifier=identifier,
        title={"ko": f"{holder} 전자의무기록 기반 OMOP CDM", "en": f"{name_en} EHR data in the OMOP CDM"},
        description={
            "ko": "가명처리된 진료 기록(진단, 처방, 검사, 시술, 기록지)을 OMOP CDM으로 변환한 데이터셋",
            "en": "Pseudonymised hospital records (diagnoses, prescriptions, labs, procedures, notes) "
            "converted to the OMOP CDM",
        },
        publisher={"ko": str(holder), "en": str(name_en)},
        contact_point=contact_point,
        themes=["HEAL"],
        keywords={"en": top, "ko": []},
        temporal_start=str(lo) if lo else None,
        temporal_end=str(hi) if hi else None,
        number_of_records=protect_count(events, characterisation.rules).shown,
        number_of_unique_individuals=characterisation.persons.shown,
        min_typical_age=ages[0] if ages else None,
        max_typical_age=ages[-1] + 9 if ages else None,
        coding_systems=vocabularies,
        cdm_version=version.declared or version.checked_as,
        access_rights="restricted: federated analysis under an approved Data Review Board grant",
        quality_score=quality_score,
    )
