"""extract_cohort_features on a small synthetic site: the documented cohort and outcome, values checked by hand."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dari.cdm.store import copy_duckdb_to_postgres, open_store
from dari.models.cdm_features import CohortFrame, extract_cohort_features
from dari.models.feature_spec import Feature, FeatureSpec, MeasurementSource, RawTransform, RequiredPolicy, ValueRange
from dari.models.reference_spec import CREATININE, CREATININE_UMOL_PER_MG, reference_spec
from dari.models.units import unit_factor

SPEC = reference_spec()


def _extract(site: Path, spec: FeatureSpec = SPEC) -> CohortFrame:
    store = open_store(site)
    try:
        return extract_cohort_features(store, spec)
    finally:
        store.close()


@pytest.fixture(scope="module")
def frame(models_site: Path) -> CohortFrame:
    """The reference spec's cohort at the small site."""
    return _extract(models_site)


def _truth(site: Path) -> dict[int, tuple[date, bool]]:
    """Truth rows keyed by person_id (the ETL numbers persons in patient_no order)."""
    with (site / "extract" / "patients.csv").open(encoding="cp949", newline="") as f:
        numbers = sorted(r["patient_no"] for r in csv.DictReader(f))
    person_id = {p: i for i, p in enumerate(numbers, start=1)}
    with (site / "truth" / "ckd_progression.csv").open(encoding="utf-8", newline="") as f:
        return {
            person_id[r["patient_no"]]: (date.fromisoformat(r["index_date"]), r["outcome_1y"] == "true")
            for r in csv.DictReader(f)
        }


def test_cohort_and_outcome_equal_the_ground_truth(models_site: Path, frame: CohortFrame) -> None:
    # Prepare
    truth = _truth(models_site)
    with duckdb.connect(str(models_site / "cdm.duckdb"), read_only=True) as con:
        blank = {
            int(r[0])
            for r in con.execute("""
                SELECT person_id FROM (
                    SELECT m.person_id, m.value_as_number, row_number() OVER (
                        PARTITION BY m.person_id ORDER BY m.measurement_date, m.measurement_id) AS k
                    FROM measurement m JOIN concept c ON c.concept_id = m.measurement_concept_id
                    WHERE c.vocabulary_id = 'LOINC' AND c.concept_code = '98979-8') t
                WHERE k = 1 AND value_as_number IS NULL""").fetchall()
        }
    # Execute
    derived = {int(p): (d.item(), bool(y)) for p, d, y in zip(frame.person_id, frame.index_date, frame.y, strict=True)}
    # Assert: the truth's cohort, except persons whose first eGFR specimen was rejected (no value in the CDM)
    assert len(truth) >= 30 and sum(o for _, o in truth.values()) >= 5
    assert derived == {p: row for p, row in truth.items() if p not in blank}
    assert frame.counts.n == len(frame) and frame.counts.events == int(frame.y.sum())
    assert frame.counts.in_period == len(frame)  # short follow-up is counted, not dropped, in the reference spec


def test_features_checked_by_hand_for_some_persons(models_site: Path, frame: CohortFrame) -> None:
    # Prepare: persons with and without an HbA1c in the year before index
    hba1c = frame.raw["hba1c"]
    picks = [*np.flatnonzero(~np.isnan(hba1c))[:3], *np.flatnonzero(np.isnan(hba1c))[:2]]
    con = duckdb.connect(str(models_site / "cdm.duckdb"), read_only=True)
    try:
        for i in picks:
            pid, index = int(frame.person_id[i]), frame.index_date[i].item()
            # Execute: the obvious per-person queries
            latest = con.execute(
                """SELECT m.value_as_number FROM measurement m JOIN concept c ON c.concept_id = m.measurement_concept_id
                   WHERE m.person_id = ? AND c.concept_code = '4548-4' AND m.value_as_number IS NOT NULL
                     AND m.measurement_date BETWEEN ? - 365 AND ?
                   ORDER BY m.measurement_date DESC, m.measurement_id DESC LIMIT 1""",
                [pid, index, index],
            ).fetchall()
            first_egfr = con.execute(
                """SELECT m.value_as_number FROM measurement m JOIN concept c ON c.concept_id = m.measurement_concept_id
                   WHERE m.person_id = ? AND c.concept_code = '98979-8'
                   ORDER BY m.measurement_date, m.measurement_id LIMIT 1""",
                [pid],
            ).fetchone()
            dm = con.execute(
                """SELECT count(*) FROM condition_occurrence co JOIN concept c ON c.concept_id = co.condition_concept_id
                   WHERE co.person_id = ? AND co.condition_start_date <= ? AND c.concept_name ILIKE '%diabetes%'""",
                [pid, index],
            ).fetchone()
            sex = con.execute(
                "SELECT c.concept_code FROM person p JOIN concept c ON c.concept_id = p.gender_concept_id "
                "WHERE p.person_id = ?",
                [pid],
            ).fetchone()
            # Assert
            assert first_egfr is not None and dm is not None and sex is not None
            if latest:
                assert frame.raw["hba1c"][i] == pytest.approx(float(latest[0][0]))
            else:
                assert np.isnan(frame.raw["hba1c"][i])
            assert 30 <= frame.raw["egfr"][i] < 60
            assert frame.raw["egfr"][i] == pytest.approx(float(first_egfr[0]))
            assert frame.raw["diabetes"][i] == (1.0 if dm[0] else 0.0)
            assert frame.raw["male"][i] == (1.0 if sex[0] == "M" else 0.0) and frame.sex[i] == sex[0]
            assert frame.raw["age_years"][i] >= 18
    finally:
        con.close()


def test_inputs_of_the_frame_are_all_scorable(frame: CohortFrame) -> None:
    # Execute
    batch = frame.inputs(SPEC)
    # Assert: required inputs are always present in this cohort; HbA1c and BP are imputed for some
    assert batch.scorable.all()
    assert 0 < batch.imputed["hba1c"] < len(frame)
    assert set(frame.age_band) <= {"18-44", "45-64", "65-74", "75+"}


def _creatinine_spec(*, convertible: bool) -> FeatureSpec:
    code = CREATININE if convertible else CREATININE.model_copy(update={"convert": ()})
    feature = Feature(
        name="creatinine",
        label_ko="크레아티닌",
        label_en="Creatinine",
        source=MeasurementSource(kind="measurement", lookback_days=0, **code.model_dump()),
        transform=RawTransform(kind="raw"),
        missing=RequiredPolicy(kind="required"),
        valid_range=ValueRange(low=0.1, high=20),
    )
    return SPEC.model_copy(update={"features": (*SPEC.features, feature)})


def test_site_reporting_umol_per_l_is_converted_by_declared_factor_else_by_the_shared_table(
    models_site: Path, frame: CohortFrame
) -> None:
    # Prepare: this site reports creatinine as LOINC 14682-9 in µmol/L
    with duckdb.connect(str(models_site / "cdm.duckdb"), read_only=True) as con:
        units = con.execute("""
            SELECT DISTINCT c.concept_code, u.concept_code FROM measurement m
            JOIN concept c ON c.concept_id = m.measurement_concept_id
            JOIN concept u ON u.concept_id = m.unit_concept_id
            WHERE c.concept_code IN ('2160-0', '14682-9')""").fetchall()
        pid, index = int(frame.person_id[0]), frame.index_date[0].item()
        umol = con.execute(
            """SELECT m.value_as_number FROM measurement m JOIN concept c ON c.concept_id = m.measurement_concept_id
               WHERE m.person_id = ? AND c.concept_code = '14682-9' AND m.measurement_date = ?
               ORDER BY m.measurement_id DESC LIMIT 1""",
            [pid, index],
        ).fetchone()
    strict = _creatinine_spec(convertible=False)
    # Execute
    converted = _extract(models_site, _creatinine_spec(convertible=True))
    by_table = _extract(models_site, strict)
    # Assert
    assert units == [("14682-9", "umol/L")]
    assert umol is not None
    assert converted.raw["creatinine"][0] == pytest.approx(float(umol[0]) / CREATININE_UMOL_PER_MG)
    assert np.nanmedian(converted.raw["creatinine"]) == pytest.approx(1.4, abs=0.6)  # mg/dL, not µmol/L
    assert "creatinine" not in converted.counts.unit_refused
    # Without a declared factor the unit table the FHIR path uses converts (creatinine's molar mass), so both
    # paths give the same input; before, the CDM refused what FHIR converted.
    factor = unit_factor(strict.feature("creatinine").source, "umol/L")  # type: ignore[arg-type]
    assert factor is not None
    assert by_table.raw["creatinine"][0] == pytest.approx(float(umol[0]) * factor)
    assert "creatinine" not in by_table.counts.unit_refused


def test_empty_concept_ancestor_falls_back_to_shipped_hierarchy(
    models_site: Path, frame: CohortFrame, tmp_path: Path
) -> None:
    # Prepare
    copy = tmp_path / "cdm.duckdb"
    shutil.copy(models_site / "cdm.duckdb", copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("DELETE FROM concept_ancestor")
    # Execute
    again = _extract(copy)
    # Assert
    assert any("concept_ancestor is empty" in n for n in again.counts.notes)
    for name in SPEC.feature_names:
        np.testing.assert_array_equal(again.raw[name], frame.raw[name])


@pytest.mark.postgres
def test_postgres_gives_the_same_features(models_site: Path, frame: CohortFrame, pg_url: str) -> None:
    # Prepare
    copy_duckdb_to_postgres(models_site / "cdm.duckdb", pg_url)
    # Execute
    pg = _extract_url(pg_url)
    # Assert
    np.testing.assert_array_equal(pg.person_id, frame.person_id)
    np.testing.assert_array_equal(pg.index_date, frame.index_date)
    np.testing.assert_array_equal(pg.y, frame.y)
    np.testing.assert_array_equal(pg.sex, frame.sex)
    for name in SPEC.feature_names:
        np.testing.assert_allclose(pg.raw[name], frame.raw[name], rtol=1e-12, equal_nan=True)
    assert pg.counts == frame.counts


def _extract_url(url: str) -> CohortFrame:
    store = open_store(url)
    try:
        return extract_cohort_features(store, SPEC)
    finally:
        store.close()
