"""The feature spec of dari's reference model: 1-year progression to CKD stage 4+ in adults with CKD G3.

The cohort and outcome are those of the synthetic network's documented ground truth (docs/synthetic-data.md);
the inputs are the variables of its generating model, each as a clinician would find them in the record.
"""

from __future__ import annotations

from datetime import date

from dari.models.codes import ConceptItem, LabCode, UnitConversion
from dari.models.feature_spec import (
    CohortDefinition,
    ConditionSource,
    DemographicSource,
    Feature,
    FeatureSpec,
    ImputePolicy,
    IndicatorTransform,
    MeasurementSource,
    OutcomeDefinition,
    RawTransform,
    RequiredPolicy,
    ValueRange,
)

EGFR_LOINC = "98979-8"  # eGFR CKD-EPI 2021 (race-free), creatinine-based
# Other LOINC codes real CDMs hold eGFR under (creatinine-based, per 1.73 m²): 62238-1 CKD-EPI, 33914-3 MDRD,
# 48642-3 MDRD among non-blacks, 88293-6 CKD-EPI among blacks. Results of one equation per patient and day are
# the rule; a site that files two equations the same day gets the "ambiguous latest" rule (not scored).
EGFR_ALSO_LOINC = ("62238-1", "33914-3", "48642-3", "88293-6")
EGFR_UNIT = "mL/min/{1.73_m2}"
HBA1C_LOINC = "4548-4"
SBP_LOINC = "8480-6"
# Systolic pressure by position (sitting, standing, supine); FHIR panels (85354-9, 55284-4) carry 8480-6 as a
# component, which the FHIR path reads, and CDM ETLs store components as rows of their own.
SBP_ALSO_LOINC = ("8459-0", "8460-8", "8461-6")
DIABETES_SNOMED = "73211009"  # Diabetes mellitus, with every descendant (type 1, type 2 and their subtypes)
HEART_FAILURE_SNOMED = "84114007"  # Heart failure, with every descendant
CREATININE_MASS_LOINC = "2160-0"
CREATININE_MOLAR_LOINC = "14682-9"
CREATININE_UMOL_PER_MG = 88.42  # µmol/L per mg/dL (molar mass of creatinine 113.12 g/mol)
LOOKBACK_DAYS = 365
# eGFR: the latest in 90 days. On the CDM the index eGFR is the first one, so the window holds only that day's
# values and training is unchanged; at the point of care it scores a patient whose eGFR is from last month
# instead of refusing every chart opened on a day without a result. 90 days is KDIGO's 3 months, beyond which a
# kidney function no longer stands for the patient's current stage.
EGFR_LOOKBACK_DAYS = 90

EGFR = LabCode(loinc=EGFR_LOINC, also_loinc=EGFR_ALSO_LOINC, unit=EGFR_UNIT)
# Creatinine is not an input of the reference model (eGFR already carries it); it is declared here so that sites
# reporting µmol/L (LOINC 14682-9) can be handled by specs that need it, with the conversion written down.
CREATININE = LabCode(
    loinc=CREATININE_MASS_LOINC,
    also_loinc=(CREATININE_MOLAR_LOINC,),
    unit="mg/dL",
    convert=(UnitConversion(unit="umol/L", factor=1.0 / CREATININE_UMOL_PER_MG),),
)


def reference_features() -> tuple[Feature, ...]:
    """The seven inputs, in model column order."""
    return (
        Feature(
            name="age_years",
            label_ko="나이",
            label_en="Age",
            source=DemographicSource(kind="demographic", field="age_years"),
            transform=RawTransform(kind="raw"),
            missing=RequiredPolicy(kind="required"),
            valid_range=ValueRange(low=18, high=120),
        ),
        Feature(
            name="male",
            label_ko="남성",
            label_en="Male sex",
            source=DemographicSource(kind="demographic", field="male"),
            transform=IndicatorTransform(kind="indicator"),
            missing=RequiredPolicy(kind="required"),
        ),
        Feature(
            name="egfr",
            label_ko="사구체여과율(eGFR)",
            label_en="Kidney function (eGFR)",
            source=MeasurementSource(
                kind="measurement",
                loinc=EGFR_LOINC,
                also_loinc=EGFR_ALSO_LOINC,
                unit=EGFR_UNIT,
                lookback_days=EGFR_LOOKBACK_DAYS,
            ),
            transform=RawTransform(kind="raw"),
            missing=RequiredPolicy(kind="required"),
            valid_range=ValueRange(low=2, high=200),
        ),
        Feature(
            name="hba1c",
            label_ko="당화혈색소(HbA1c)",
            label_en="Blood sugar control (HbA1c)",
            source=MeasurementSource(kind="measurement", loinc=HBA1C_LOINC, unit="%", lookback_days=LOOKBACK_DAYS),
            transform=RawTransform(kind="raw"),
            missing=ImputePolicy(kind="impute", value=5.6),
            valid_range=ValueRange(low=3, high=20),
        ),
        Feature(
            name="sbp",
            label_ko="수축기 혈압",
            label_en="Systolic blood pressure",
            source=MeasurementSource(
                kind="measurement",
                loinc=SBP_LOINC,
                also_loinc=SBP_ALSO_LOINC,
                unit="mm[Hg]",
                lookback_days=LOOKBACK_DAYS,
            ),
            transform=RawTransform(kind="raw"),
            missing=ImputePolicy(kind="impute", value=130),
            valid_range=ValueRange(low=50, high=300),
        ),
        Feature(
            name="diabetes",
            label_ko="당뇨병",
            label_en="Diabetes",
            source=ConditionSource(
                kind="condition",
                concepts=(ConceptItem(vocabulary_id="SNOMED", concept_code=DIABETES_SNOMED),),
                kcd=("E10", "E11", "E12", "E13", "E14"),
            ),
            transform=IndicatorTransform(kind="indicator"),
            missing=ImputePolicy(kind="impute", value=0),
        ),
        Feature(
            name="heart_failure",
            label_ko="심부전",
            label_en="Heart failure",
            source=ConditionSource(
                kind="condition",
                concepts=(ConceptItem(vocabulary_id="SNOMED", concept_code=HEART_FAILURE_SNOMED),),
                kcd=("I50",),
            ),
            transform=IndicatorTransform(kind="indicator"),
            missing=ImputePolicy(kind="impute", value=0),
        ),
    )


def reference_spec(*, index_end: date | None = date(2024, 12, 31)) -> FeatureSpec:
    """The reference model's spec, before training adds its linear terms."""
    return FeatureSpec(
        name="ckd_progression_1y",
        version="1.0.0",
        description_ko="만성콩팥병 3기(eGFR 30–60) 성인에서 1년 안에 4기 이상(eGFR 30 미만)으로 진행할 위험",
        description_en="Risk that an adult with CKD stage G3 (eGFR 30–60) reaches stage 4 or worse (eGFR < 30) "
        "within one year",
        cohort=CohortDefinition(
            index=EGFR,
            first_value_low=30.0,
            first_value_high=60.0,
            min_age_years=18.0,
            index_end=index_end,
            description_ko="첫 eGFR 측정값이 30 이상 60 미만인 18세 이상 성인; 기준일 = 그 측정일",
            description_en="Adults (18+) whose first eGFR measurement is at least 30 and below 60; "
            "index date = that measurement's date",
        ),
        outcome=OutcomeDefinition(
            measurement=EGFR,
            below=30.0,
            window_start_days=0,
            window_end_days=365,
            exclude_censored=False,
            label_ko="1년 안에 eGFR 30 미만(만성콩팥병 4기 이상)",
            label_en="eGFR below 30 (CKD stage 4 or worse) within one year",
        ),
        features=reference_features(),
    )
