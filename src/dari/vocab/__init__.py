"""The small bilingual (Korean/English) OMOP vocabulary that ships with dari, and loaders for official ones.

Shipped content (``dari/vocab/data/*.csv``, UTF-8, edited by hand) is the subset the synthetic Korean
hospitals use: KCD-8 diagnoses, ATC drugs, LOINC labs, synthetic procedure stand-ins, each mapped to a
standard SNOMED CT / RxNorm / LOINC concept, plus UCUM units and the CDM's gender, visit, type and
language concepts.

Concept ids: we do not ship Athena's concept ids (licence and size), so every concept has an id in OMOP's
site-local range, concept_id > 2,000,000,000, except OMOP's universal 0 'No matching concept'. Ids are
allocated in blocks by kind and are stable: never renumber or reuse one; add new rows at the end of a block.

    2000001xxx  CDM metadata concepts (vocabulary, domain, concept class, relationship; metadata.csv)
    2000010xxx  gender, visit, type, language, encoding and note-class concepts
    2000100xxx  SNOMED CT conditions          2000200xxx  SNOMED CT procedures
    2000300xxx  RxNorm ingredients            2000400xxx  LOINC measurements
    2000500xxx  UCUM units                    2001000xxx  KCD-8 source codes
    2001100xxx  ATC classes and 5th-level codes   2001200xxx  procedure source codes (dari-local)
    2010000000+ KCD codes imported from an official KCD file (derived from the code; see official.py)

Where a concept has an Athena id we are sure of, ``athena_concept_id`` records it for later re-mapping.
"""

from dari.vocab.model import (
    LOCAL_CONCEPT_ID_MIN,
    NO_MATCHING_CONCEPT_ID,
    Concept,
    MetadataEntry,
    Relationship,
    Synonym,
    kcd_with_dot,
    normalise_code,
    normalise_kcd_code,
    normalise_term,
)
from dari.vocab.shipped import load_vocabulary, shipped_data_dir, shipped_vocabulary
from dari.vocab.vocabulary import Vocabulary

__all__ = [
    "LOCAL_CONCEPT_ID_MIN",
    "NO_MATCHING_CONCEPT_ID",
    "Concept",
    "MetadataEntry",
    "Relationship",
    "Synonym",
    "Vocabulary",
    "kcd_with_dot",
    "load_vocabulary",
    "normalise_code",
    "normalise_kcd_code",
    "normalise_term",
    "shipped_data_dir",
    "shipped_vocabulary",
]
