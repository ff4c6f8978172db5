"""A small, consistent Athena download written by hand (SNOMED, KCD7, ICD10), for the loader and KCD tests."""

from __future__ import annotations

from pathlib import Path

DATES = "19700101\t20991231"
FILES = {
    "CONCEPT.csv": [
        "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\tstandard_concept\tconcept_code"
        "\tvalid_start_date\tvalid_end_date\tinvalid_reason",
        f"201826\tType 2 diabetes mellitus\tCondition\tSNOMED\tClinical Finding\tS\t44054006\t{DATES}\t",
        f"201820\tDiabetes mellitus\tCondition\tSNOMED\tClinical Finding\tS\t73211009\t{DATES}\t",
        f'45542411\tType 2 "adult-onset" diabetes\tCondition\tKCD7\tKCD7 code\t\tE11\t{DATES}\t',
        f"1567956\tType 2 diabetes mellitus\tCondition\tICD10\tICD10 Hierarchy\t\tE11\t{DATES}\t",
        f"45576876\tType 2 diabetes mellitus without complications\tCondition\tICD10\tICD10 code\t\tE11.9\t{DATES}\t",
    ],
    "CONCEPT_RELATIONSHIP.csv": [
        "concept_id_1\tconcept_id_2\trelationship_id\tvalid_start_date\tvalid_end_date\tinvalid_reason",
        f"45542411\t201826\tMaps to\t{DATES}\t",
        f"1567956\t201826\tMaps to\t{DATES}\t",
        f"201826\t201820\tIs a\t{DATES}\t",
    ],
    "CONCEPT_ANCESTOR.csv": [
        "ancestor_concept_id\tdescendant_concept_id\tmin_levels_of_separation\tmax_levels_of_separation",
        "201820\t201826\t1\t1",
        "201820\t201820\t0\t0",
        "201826\t201826\t0\t0",
    ],
    "CONCEPT_SYNONYM.csv": ["concept_id\tconcept_synonym_name\tlanguage_concept_id", "201826\t2형 당뇨병\t4175771"],
    "VOCABULARY.csv": [
        "vocabulary_id\tvocabulary_name\tvocabulary_reference\tvocabulary_version\tvocabulary_concept_id",
        "SNOMED\tSNOMED CT\thttps://www.snomed.org\t2024-03-01\t44819097",
        "KCD7\tKorean Classification of Diseases, 7th Revision\thttps://www.hira.or.kr\t\t32936",
        "ICD10\tInternational Classification of Diseases, Tenth Revision (WHO)\thttps://icd.who.int\t2021\t44819124",
    ],
    "DOMAIN.csv": ["domain_id\tdomain_name\tdomain_concept_id", "Condition\tCondition\t19"],
    "CONCEPT_CLASS.csv": [
        "concept_class_id\tconcept_class_name\tconcept_class_concept_id",
        "Clinical Finding\tClinical Finding\t44819017",
        "KCD7 code\tKCD7 code\t32939",
        "ICD10 Hierarchy\tICD10 Hierarchy\t44819243",
        "ICD10 code\tICD10 code\t44819244",
    ],
    "RELATIONSHIP.csv": [
        "relationship_id\trelationship_name\tis_hierarchical\tdefines_ancestry\treverse_relationship_id"
        "\trelationship_concept_id",
        "Maps to\tNon-standard to Standard map (OMOP)\t0\t0\tMapped from\t44818977",
        "Mapped from\tStandard to Non-standard map (OMOP)\t0\t0\tMaps to\t44818978",
        "Is a\tIs a\t1\t1\tSubsumes\t44818821",
        "Subsumes\tSubsumes\t1\t1\tIs a\t44818723",
    ],
    "DRUG_STRENGTH.csv": [
        "drug_concept_id\tingredient_concept_id\tamount_value\tamount_unit_concept_id\tnumerator_value"
        "\tnumerator_unit_concept_id\tdenominator_value\tdenominator_unit_concept_id\tbox_size\tvalid_start_date"
        "\tvalid_end_date\tinvalid_reason",
        f"201826\t201820\t0.0625\t8576\t\t\t\t\t\t{DATES}\t",
    ],
}


def write_download(folder: Path, edit: dict[str, list[str]] | None = None, newline: str = "\n") -> Path:
    """The download above, with some files replaced (an empty list leaves a file out)."""
    folder.mkdir(exist_ok=True)
    for name, lines in {**FILES, **(edit or {})}.items():
        if lines:
            (folder / name).write_bytes((newline.join(lines) + newline).encode())
    return folder
