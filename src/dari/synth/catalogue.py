"""What the synthetic hospitals record: conditions with their KCD-8 codes, drugs, labs and procedures.

Codes here are the source codes a hospital's EMR holds; their names (Korean and English) and their mapping to
standard concepts live in the shipped vocabulary (`dari.vocab`), the one place for terminology.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Condition:
    """A chronic or acute condition the generator can give a patient."""

    key: str
    group: str  # case-mix group a site profile scales: metabolic, cardio, ckd, resp, cancer
    kcd: str  # the code a careful coder writes
    kcd_alternatives: tuple[str, ...] = ()  # codes some coders use instead (e.g. unspecified forms)
    drugs: tuple[tuple[str, ...], ...] = ()  # ATC regimens, one chosen per patient
    department: str = "가정의학과"


CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "hypertension",
        "cardio",
        "I10",
        (),
        (("C09CA01",), ("C08CA01",), ("C09CA01", "C08CA01"), ("C09AA05",)),
        "순환기내과",
    ),
    Condition(
        "t2dm",
        "metabolic",
        "E11.9",
        ("E11.9",),
        (
            ("A10BA02",),
            ("A10BA02", "A10BH01"),
            ("A10BA02", "A10BK01"),
            ("A10BA02", "A10BK03"),
            ("A10AE04", "A10BA02"),
        ),
        "내분비내과",
    ),
    Condition("t1dm", "metabolic", "E10.9", (), (("A10AE04",),), "내분비내과"),
    Condition("dyslipidaemia", "metabolic", "E78.5", ("E78.0",), (("C10AA05",), ("C10AA07",)), "가정의학과"),
    Condition("obesity", "metabolic", "E66.9", (), (), "가정의학과"),
    Condition(
        "heart_failure",
        "cardio",
        "I50.0",
        ("I50.9",),
        (("C03CA01", "C07AB07"), ("C09DX04", "C07AB07", "C03DA01"), ("C03CA01", "C07AB07", "C03DA01")),
        "순환기내과",
    ),
    Condition(
        "atrial_fibrillation",
        "cardio",
        "I48.9",
        ("I48.0",),
        (("B01AF01",), ("B01AF02",), ("B01AA03",)),
        "순환기내과",
    ),
    Condition("mi", "cardio", "I21.9", (), (("B01AC06", "C10AA05", "C07AB07"),), "순환기내과"),
    Condition("stroke", "cardio", "I63.9", (), (("B01AC06", "C10AA05"),), "신경과"),
    Condition("copd", "resp", "J44.9", ("J44.1",), (("R03BB04",),), "호흡기내과"),
    Condition("stomach_cancer", "cancer", "C16.9", (), (), "혈액종양내과"),
    Condition("colorectal_cancer", "cancer", "C18.9", (), (), "혈액종양내과"),
    Condition("lung_cancer", "cancer", "C34.9", (), (), "혈액종양내과"),
    Condition("breast_cancer", "cancer", "C50.9", (), (), "유방외과"),
    Condition("liver_cancer", "cancer", "C22.0", (), (), "소화기내과"),
    Condition("thyroid_cancer", "cancer", "C73", (), (), "내분비외과"),
)
CONDITION_INDEX = {c.key: i for i, c in enumerate(CONDITIONS)}

# CKD is not drawn as a yes/no condition: it follows each patient's kidney-function trajectory, and the
# stage coded at a visit is the stage the eGFR at that visit implies (KDIGO G-stages).
CKD_STAGE_CODES = {1: "N18.1", 2: "N18.2", 3: "N18.3", 4: "N18.4", 5: "N18.5"}
CKD_UNSPECIFIED = "N18.9"
T2DM_WITH_KIDNEY_COMPLICATIONS = "E11.2"
HYPERTENSIVE_CKD = "I12.0"
CKD_DRUGS = ("C09CA01",)  # an ARB for albuminuric CKD


@dataclass(frozen=True, slots=True)
class Lab:
    """A laboratory test or vital sign as the EMR records it (LOINC is the standard it maps to)."""

    key: str
    loinc: str
    local_suffix: str  # local lab code = site prefix + suffix, mapped to LOINC in the site's code table
    unit: str
    decimals: int
    range_low: float | None
    range_high: float | None


LABS: tuple[Lab, ...] = (
    Lab("hba1c", "4548-4", "3021", "%", 1, 4.0, 6.0),
    Lab("creatinine", "2160-0", "3012", "mg/dL", 2, 0.6, 1.2),
    Lab("egfr", "98979-8", "3013", "mL/min/1.73m2", 0, 60.0, None),
    Lab("potassium", "2823-3", "3104", "mmol/L", 1, 3.5, 5.1),
    Lab("sodium", "2951-2", "3103", "mmol/L", 0, 136.0, 145.0),
    Lab("haemoglobin", "718-7", "1002", "g/dL", 1, 12.0, 16.0),
    Lab("ldl", "13457-7", "3042", "mg/dL", 0, None, 130.0),
    Lab("glucose", "1558-6", "3001", "mg/dL", 0, 70.0, 100.0),
    Lab("ntprobnp", "33762-6", "5201", "pg/mL", 0, None, 125.0),
    Lab("sbp", "8480-6", "V001", "mm[Hg]", 0, None, None),
    Lab("dbp", "8462-4", "V002", "mm[Hg]", 0, None, None),
    Lab("bmi", "39156-5", "V010", "kg/m2", 1, None, None),
)
LAB_INDEX = {lab.key: i for i, lab in enumerate(LABS)}
CREATININE_UMOL_LOINC = "14682-9"  # creatinine in serum or plasma, moles/volume
CREATININE_UMOL_PER_MGDL = 88.42  # µmol/L per mg/dL (molar mass of creatinine 113.12 g/mol)


@dataclass(frozen=True, slots=True)
class Reported:
    """How a site reports a lab: the LOINC code that fits its unit, the unit, the factor from the catalogue's unit
    and the decimals printed."""

    loinc: str
    unit: str
    factor: float
    decimals: int


def reported(lab: Lab, creatinine_unit: str) -> Reported:
    """The one place that decides a lab's reporting at a site (creatinine may come in µmol/L, LOINC 14682-9)."""
    if lab.key == "creatinine" and creatinine_unit == "umol/L":
        return Reported(CREATININE_UMOL_LOINC, "umol/L", CREATININE_UMOL_PER_MGDL, 0)
    return Reported(lab.loinc, lab.unit, 1.0, lab.decimals)


@dataclass(frozen=True, slots=True)
class Procedure:
    """A procedure with the code the EMR records and the conditions that make it likely.

    The codes are dari-local stand-ins for HIRA EDI procedure codes (vocabulary 'dari-local'): we could not
    confirm official EDI codes, and an invented code must not look official.
    """

    key: str
    code: str
    triggers: tuple[str, ...]
    probability: float  # per visit of a patient with a trigger condition


PROCEDURES: tuple[Procedure, ...] = (
    Procedure("ecg", "DL-ECG12", ("hypertension", "atrial_fibrillation", "heart_failure", "mi"), 0.15),
    Procedure("echo", "DL-ECHO", ("heart_failure", "atrial_fibrillation", "mi"), 0.08),
    Procedure("chest_xray", "DL-CXR", ("copd", "heart_failure", "lung_cancer"), 0.2),
    Procedure("spirometry", "DL-PFT", ("copd",), 0.15),
    Procedure("gastroscopy", "DL-EGD", ("stomach_cancer",), 0.25),
    Procedure("colonoscopy", "DL-COLO", ("colorectal_cancer",), 0.25),
    Procedure("ct_abdomen", "DL-CTABD", ("liver_cancer", "stomach_cancer", "colorectal_cancer"), 0.2),
    Procedure("coronary_angiography", "DL-CAG", ("mi",), 0.1),
)
HAEMODIALYSIS_CODE = "DL-HD"
