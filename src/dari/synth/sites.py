"""Profiles of the synthetic hospitals: what makes one site's data differ from another's."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

KcdStyle = Literal["dotted", "undotted", "three_char"]
Encoding = Literal["utf-8-sig", "cp949", "utf-8"]


@dataclass(frozen=True, slots=True)
class SiteProfile:
    """How one synthetic hospital differs: population, case-mix, coding habits, units, file conventions."""

    site_id: str
    name_ko: str
    name_en: str
    hospital_code: str
    region: str  # key into the identity generator's region weights
    encoding: Encoding
    date_format: str  # how the EMR writes dates in its extract (strftime/strptime pattern)
    kcd_style: KcdStyle
    creatinine_unit: Literal["mg/dL", "umol/L"]
    lab_code_prefix: str
    sex_labels: dict[str, str] = field(default_factory=lambda: {"M": "M", "F": "F"})  # how the EMR writes sex
    # Case-mix: multipliers on the odds of each condition group, and the population's age structure.
    age_shift_years: float = 0.0
    paediatric_share: float = 0.06
    odds: dict[str, float] = field(default_factory=dict)
    visit_intensity: float = 1.0
    inpatient_share: float = 0.07
    # Coding habits: probability that an active chronic condition is coded at an outpatient visit.
    coding_completeness: float = 0.6
    lab_missing_value_rate: float = 0.015
    # Shifts of the documented CKD-progression model (see docs/synthetic-data.md): the same disease
    # behaves a little differently at each site so a model transfers imperfectly.
    progression_intercept_shift: float = 0.0
    progression_diabetes_effect: float = 1.0

    def odds_for(self, group: str) -> float:
        """The odds multiplier for a condition group at this site (1.0 where unspecified)."""
        return self.odds.get(group, 1.0)


DEFAULT_SITES: tuple[SiteProfile, ...] = (
    SiteProfile(
        site_id="site-1",
        name_ko="서울한빛대학교병원",
        name_en="Seoul Hanbit University Hospital",
        hospital_code="HB",
        region="seoul_tertiary",
        encoding="utf-8-sig",
        date_format="%Y-%m-%d",
        kcd_style="dotted",
        creatinine_unit="mg/dL",
        lab_code_prefix="L",
        age_shift_years=3.0,
        paediatric_share=0.04,
        odds={"cancer": 2.2, "cardio": 1.3, "ckd": 1.2},
        visit_intensity=1.25,
        inpatient_share=0.10,
        coding_completeness=0.7,
        progression_intercept_shift=0.0,
    ),
    SiteProfile(
        site_id="site-2",
        name_ko="부산바다의료원",
        name_en="Busan Bada Medical Center",
        hospital_code="BD",
        region="busan_regional",
        encoding="cp949",
        date_format="%Y%m%d",
        kcd_style="undotted",
        creatinine_unit="umol/L",
        lab_code_prefix="B",
        sex_labels={"M": "남", "F": "여"},
        age_shift_years=5.0,
        paediatric_share=0.05,
        odds={"metabolic": 1.3, "ckd": 1.4, "resp": 1.3},
        visit_intensity=1.0,
        inpatient_share=0.08,
        coding_completeness=0.55,
        lab_missing_value_rate=0.03,
        progression_intercept_shift=0.35,
        progression_diabetes_effect=1.25,
    ),
    SiteProfile(
        site_id="site-3",
        name_ko="광주빛고을병원",
        name_en="Gwangju Bitgoeul Hospital",
        hospital_code="GJ",
        region="gwangju_community",
        encoding="utf-8",
        date_format="%Y-%m-%d",
        kcd_style="three_char",
        creatinine_unit="mg/dL",
        lab_code_prefix="C",
        age_shift_years=-4.0,
        paediatric_share=0.12,
        odds={"cancer": 0.6, "metabolic": 1.1},
        visit_intensity=0.8,
        inpatient_share=0.05,
        coding_completeness=0.5,
        progression_intercept_shift=-0.3,
        progression_diabetes_effect=0.7,
    ),
)


def network_profiles(n_sites: int) -> list[SiteProfile]:
    """Profiles for `n_sites` hospitals: the three defaults, then variations of them with new ids."""
    if n_sites < 1:
        raise ValueError(f"n_sites must be at least 1, got {n_sites}")
    out: list[SiteProfile] = []
    for i in range(n_sites):
        base = DEFAULT_SITES[i % len(DEFAULT_SITES)]
        if i < len(DEFAULT_SITES):
            out.append(base)
            continue
        k = i // len(DEFAULT_SITES)
        out.append(
            replace(
                base,
                site_id=f"site-{i + 1}",
                hospital_code=f"{base.hospital_code}{k}",
                name_ko=f"{base.name_ko} 제{k + 1}분원",
                name_en=f"{base.name_en} Branch {k + 1}",
                age_shift_years=base.age_shift_years + 2.0 * k,
                progression_intercept_shift=base.progression_intercept_shift + 0.1 * k,
            )
        )
    return out
