"""The reference model's card: fixed statements in Korean and English, figures from the training run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dari.models.cdm_features import CohortFrame
from dari.models.feature_spec import (
    ConditionSource,
    DemographicSource,
    Feature,
    FeatureSpec,
    ImputePolicy,
    MeasurementSource,
)
from dari.models.model_card import CardFeature, ModelCard, Performance, SubgroupPerformance, Text, TrainingData
from dari.models.performance import Scores

RELEASE_DATE = date(2026, 11, 24)
DEVELOPER = "dari project (open source, Apache-2.0)"
CONTACT = "models@example.org (placeholder: the maintainers of this dari installation)"


@dataclass(frozen=True)
class CardInputs:
    """What a training run hands to the card."""

    spec: FeatureSpec
    frame: CohortFrame
    apparent: Scores
    corrected: Scores
    subgroups: dict[tuple[str, str], Scores]
    external: dict[str, Scores]
    model_sha256: str
    spec_sha256: str
    command: str
    seed: int
    patients: int


def _code(f: Feature) -> str:
    src = f.source
    if isinstance(src, MeasurementSource):
        also = f" (or {', '.join(src.also_loinc)})" if src.also_loinc else ""
        window = "at the index date" if src.lookback_days == 0 else f"latest in {src.lookback_days} days to index"
        return f"LOINC {src.loinc}{also}, {window}"
    if isinstance(src, ConditionSource):
        items = [c for c in src.concept_items() if not c.exclude]
        parts = [f"{c.label()}{' (+ descendants)' if c.include_descendants else ''}" for c in items]
        parts += [f"KCD {', '.join(src.kcd)}"] if src.kcd else []
        dropped = [c.label() for c in src.concept_items() if c.exclude]
        but = f" (not {', '.join(dropped)})" if dropped else ""
        return " or ".join(parts) + but + ", recorded on or before the index date"
    assert isinstance(src, DemographicSource)
    return "Patient.birthDate / person.year_of_birth" if src.field == "age_years" else "Patient.gender / person.gender"


def _card_features(spec: FeatureSpec) -> tuple[CardFeature, ...]:
    return tuple(
        CardFeature(
            name=f.name,
            label_ko=f.label_ko,
            label_en=f.label_en,
            code=_code(f),
            unit=f.unit,
            when_missing=f"imputed as {f.missing.value:g}" if isinstance(f.missing, ImputePolicy) else "required",
        )
        for f in spec.features
    )


def _performance(setting: str, site: str, s: Scores, note: Text | None = None) -> Performance:
    return Performance.model_validate(
        {
            "setting": setting,
            "site": site,
            "n": s.n,
            "events": s.events,
            "auroc": s.auroc,
            "calibration_slope": s.calibration_slope,
            "calibration_in_the_large": s.calibration_in_the_large,
            "observed_expected": s.observed_expected,
            "brier": s.brier,
            "note": note,
        }
    )


def reference_card(r: CardInputs, model_file: str, spec_file: str) -> ModelCard:
    """The model card of a reference-model training run."""
    dates = r.frame.index_date
    performance = [
        _performance("internal_apparent", "site-1", r.apparent),
        _performance(
            "internal_optimism_corrected",
            "site-1",
            r.corrected,
            Text(ko="부트스트랩 200회(Harrell 방법)로 낙관 편향을 보정", en="Harrell's bootstrap, 200 resamples"),
        ),
    ]
    synthetic = Text(ko="합성 데이터의 다른 병원(외부 검증)", en="another synthetic hospital (external check)")
    performance += [_performance("external", site, s, synthetic) for site, s in r.external.items()]
    return ModelCard(
        name=r.spec.name,
        version=r.spec.version,
        release_date=RELEASE_DATE,
        release_stage="research",
        developer=DEVELOPER,
        contact=CONTACT,
        summary=Text(
            ko="만성콩팥병 3기 성인이 1년 안에 4기 이상으로 진행할 위험을 예측하는 로지스틱 회귀 참조 모델. "
            "합성 데이터로만 학습했으며 dari의 검증·배포 과정을 시연하기 위한 것이다.",
            en="Reference logistic-regression model of the risk that an adult with CKD stage G3 progresses to stage "
            "4 or worse within a year. Trained on synthetic data only, to exercise dari's validation and deployment.",
        ),
        model_type=Text(
            ko="표준화 + L2 로지스틱 회귀(scikit-learn), ONNX로 내보냄; 기여도는 계수 × 표준화 값으로 정확히 계산",
            en="Standardisation + L2 logistic regression (scikit-learn) exported to ONNX; each input's contribution "
            "is exactly coefficient × standardised value",
        ),
        intended_use=Text(
            ko="외래에서 eGFR 30–60인 성인의 1년 진행 위험을 보여 주어 신장내과 의뢰와 추적 간격 결정을 돕는다"
            "(결정을 대신하지 않음).",
            en="Show the 1-year progression risk of an adult outpatient with eGFR 30–60 to support decisions on "
            "nephrology referral and follow-up interval; it does not replace them.",
        ),
        intended_users=Text(ko="의사, 신장내과·내과 진료팀", en="Physicians and nephrology / internal-medicine teams"),
        target_population=Text(ko=r.spec.cohort.description_ko, en=r.spec.cohort.description_en),
        out_of_scope=(
            Text(
                ko="투석·신장이식 환자, 급성 신손상 중인 환자",
                en="Patients on dialysis, with a kidney transplant, or in acute kidney injury",
            ),
            Text(ko="18세 미만, 임신부", en="Children under 18; pregnancy"),
            Text(
                ko="첫 eGFR이 30 미만 또는 60 이상인 환자", en="Patients whose first eGFR is below 30 or 60 and above"
            ),
            Text(ko="실제 환자 진료(연구용 참조 모델)", en="Care of real patients: this is a research reference model"),
        ),
        training_data=TrainingData(
            site="site-1 (서울한빛대학교병원, synthetic tertiary hospital)",
            description=Text(
                ko=f"dari 합성 병원망 site-1 환자 {r.patients:,}명(시드 {r.seed}), 가명처리 후 OMOP CDM",
                en=f"{r.patients:,} patients of synthetic site-1 (seed {r.seed}), pseudonymised into OMOP CDM v5.4",
            ),
            period_start=dates.min().item() if dates.size else RELEASE_DATE,
            period_end=dates.max().item() if dates.size else RELEASE_DATE,
            n=r.apparent.n,
            events=r.apparent.events,
            synthetic=True,
            how_to_rebuild=r.command,
        ),
        features=_card_features(r.spec),
        outputs=Text(
            ko="1년 안에 eGFR 30 미만이 될 확률(0–1)과 입력별 기여도(로그 오즈)",
            en="Probability (0–1) of an eGFR below 30 within one year, and each input's contribution (log-odds)",
        ),
        performance=tuple(performance),
        subgroups=tuple(
            SubgroupPerformance.model_validate(
                {
                    "attribute": a,
                    "group": g,
                    "n": s.n,
                    "events": s.events,
                    "auroc": s.auroc,
                    "observed_expected": s.observed_expected,
                }
            )
            for (a, g), s in sorted(r.subgroups.items())
        ),
        known_risks=(
            Text(
                ko="병원마다 기저 위험과 당뇨병의 영향이 달라 다른 병원에서는 보정(calibration)이 어긋난다: "
                "배포 전 현지 검증과 재보정 필요",
                en="Baseline risk and the effect of diabetes differ between hospitals, so calibration drifts at other "
                "sites: validate locally and recalibrate before use",
            ),
            Text(
                ko="HbA1c·혈압이 없으면 정해진 값으로 대체한다(HbA1c 5.6 %, 수축기 혈압 130 mmHg)",
                en="Missing HbA1c or blood pressure are imputed (HbA1c 5.6 %, systolic BP 130 mmHg)",
            ),
            Text(
                ko="1년 추적 전에 관찰이 끝난 비진행 환자는 비사건으로 센다: "
                "추적 소실이 많은 곳에서는 위험을 과소평가할 수 있다",
                en="Non-progressors observed for less than a year count as non-events; where loss to follow-up is "
                "common this may underestimate risk",
            ),
            Text(
                ko="합성 데이터만으로 학습: 실제 임상 성능은 알 수 없다",
                en="Trained on synthetic data only: real-world performance is unknown",
            ),
        ),
        fairness_considerations=(
            Text(
                ko="성별·연령대별 성능을 함께 보고한다; 남성은 위험 인자로 모델에 들어 있다",
                en="Performance is reported by sex and age band; male sex is an input because it carries risk",
            ),
            Text(
                ko="eGFR은 인종 계수가 없는 CKD-EPI 2021 식을 쓴다",
                en="eGFR is the race-free CKD-EPI 2021 equation",
            ),
        ),
        regulatory_status=Text(
            ko="연구용. 식품의약품안전처 의료기기 허가를 받지 않았으며 진료에 쓰면 안 된다.",
            en="Research use only. Not cleared by MFDS (Korea) or any regulator as a medical device; "
            "not for clinical use.",
        ),
        model_file=model_file,
        model_sha256=r.model_sha256,
        feature_spec_file=spec_file,
        feature_spec_sha256=r.spec_sha256,
    )
