"""The TRIPOD+AI checklist (Collins et al., BMJ 2024;385:e078378) as data, and where this report answers it.

Item wording is a close paraphrase of the published checklist (use the BMJ paper for the authoritative text).
Each item names the report sections (HTML anchors) that answer it; an item the report cannot answer from a
validation run carries the reason, and is left to the study team (ethics, funding, protocol…). Items about model
development are answered only in so far as the model card describes the development.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["answered", "not_reported", "not_applicable"]

# Reasons shared by many items: (Korean, English)
_TEAM = (
    "연구팀이 작성할 내용이며 검증 실행 결과로는 알 수 없음",
    "for the study team: a validation run cannot know it",
)
_DEV = (
    "모델 개발에 관한 항목: 개발 보고서(모델 카드의 학습 데이터 참조)에 기술",
    "about model development: see the development report (the model card's training data)",
)
_NO_UPDATE = (
    "이 검증에서는 모델을 갱신(재보정)하지 않음",
    "the model was not updated (recalibrated) in this validation",
)


class TripodItem(BaseModel):
    """One checklist item and where the report answers it (or why it does not)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    number: str
    section_ko: str
    section_en: str
    text_ko: str
    text_en: str
    answered_in: tuple[str, ...] = ()
    status: Status = "answered"
    reason_ko: str = ""
    reason_en: str = ""


def _i(
    number: str,
    section: tuple[str, str],
    text: tuple[str, str],
    answered_in: tuple[str, ...] = (),
    reason: tuple[str, str] | None = None,
    status: Status | None = None,
) -> TripodItem:
    st: Status = status or ("answered" if answered_in else "not_reported")
    ko, en = reason or ("", "")
    return TripodItem(
        number=number,
        section_ko=section[0],
        section_en=section[1],
        text_ko=text[0],
        text_en=text[1],
        answered_in=answered_in,
        status=st,
        reason_ko=ko,
        reason_en=en,
    )


_TITLE, _ABS, _BG, _OBJ = ("제목", "Title"), ("초록", "Abstract"), ("배경", "Background"), ("목적", "Objectives")
_DATA, _PART, _PREP = ("데이터", "Data"), ("연구 대상자", "Participants"), ("데이터 전처리", "Data preparation")
_OUT, _PRED, _SIZE = ("결과변수", "Outcome"), ("예측변수", "Predictors"), ("표본 크기", "Sample size")
_MISS, _ANA, _IMB = (
    ("결측 자료", "Missing data"),
    ("분석 방법", "Analytical methods"),
    ("클래스 불균형", "Class imbalance"),
)
_FAIR, _OUTPUT = ("공정성", "Fairness"), ("모델 출력", "Model output")
_DIFF, _ETH, _OPEN = (
    ("개발·평가 데이터 차이", "Training versus evaluation"),
    ("윤리", "Ethical approval"),
    (
        "개방 과학",
        "Open science",
    ),
)
_PPI, _RPART, _RDEV = (
    ("환자·대중 참여", "Patient and public involvement"),
    ("연구 대상자", "Participants"),
    (
        "모델 개발",
        "Model development",
    ),
)
_SPEC, _PERF, _UPD = (
    ("모델 명세", "Model specification"),
    ("모델 성능", "Model performance"),
    (
        "모델 갱신",
        "Model updating",
    ),
)
_INT, _LIM, _USE = ("해석", "Interpretation"), ("제한점", "Limitations"), ("실제 사용 가능성", "Usability in context")

CHECKLIST: tuple[TripodItem, ...] = (
    _i(
        "1",
        _TITLE,
        (
            "다변량 예측모델의 개발 또는 성능 평가 연구임을, 대상 인구와 예측 결과를 밝힌다.",
            "Identify the study as developing or evaluating a multivariable prediction model, "
            "with the target population "
            "and the outcome predicted.",
        ),
        ("summary",),
    ),
    _i(
        "2",
        _ABS,
        ("TRIPOD+AI 초록 점검표에 따른 초록을 제시한다.", "Give an abstract following TRIPOD+AI for Abstracts."),
        ("summary",),
    ),
    _i(
        "3a",
        _BG,
        (
            "의료 맥락(진단/예후)과 모델 개발·평가의 근거, 기존 모델을 설명한다.",
            "Explain the healthcare context (diagnostic or prognostic) and the rationale, with references to existing "
            "models.",
        ),
        ("model-card",),
    ),
    _i(
        "3b",
        _BG,
        (
            "대상 인구, 진료 경로상의 사용 목적과 사용자를 기술한다.",
            "Describe the target population, the model's intended purpose in the care pathway and its intended users.",
        ),
        ("model-card",),
    ),
    _i(
        "3c",
        _BG,
        (
            "사회인구학적 집단 간 알려진 건강 불평등을 기술한다.",
            "Describe any known health inequalities between sociodemographic groups.",
        ),
        ("model-card",),
    ),
    _i(
        "4",
        _OBJ,
        (
            "연구 목적(개발, 검증 또는 둘 다)을 명시한다.",
            "Specify the objectives, including whether the study develops or validates a model (or both).",
        ),
        ("summary",),
    ),
    _i(
        "5a",
        _DATA,
        (
            "개발·평가 데이터의 출처, 선택 근거, 대표성을 따로 기술한다.",
            "Describe the data sources separately for development and evaluation, why they were used and how "
            "representative they are.",
        ),
        ("provenance", "model-card"),
    ),
    _i(
        "5b",
        _DATA,
        (
            "자료 수집 기간(모집 시작·종료, 추적 종료)을 밝힌다.",
            "Give the dates of the data: start and end of accrual and, if applicable, end of follow-up.",
        ),
        ("model-card",),
        reason=("검증 자료의 기간은 결과 파일에 없음", "the validation data's period is not in the results"),
    ),
    _i(
        "6a",
        _PART,
        (
            "연구 환경(1차·2차 의료 등)과 기관 수·위치를 밝힌다.",
            "Specify the setting (e.g. primary or secondary care) with the number and location of centres.",
        ),
        ("provenance", "sites"),
    ),
    _i("6b", _PART, ("연구 대상자의 선정 기준을 기술한다.", "Describe the eligibility criteria."), ("model-card",)),
    _i(
        "6c",
        _PART,
        ("받은 치료와 그 처리 방법을 기술한다.", "Give details of treatments received and how they were handled."),
        reason=_TEAM,
    ),
    _i(
        "7",
        _PREP,
        (
            "자료 전처리와 품질 점검, 사회인구학적 집단 간 동일성 여부를 기술한다.",
            "Describe data pre-processing and quality checks, and whether they were similar across groups.",
        ),
        ("methods",),
    ),
    _i(
        "8a",
        _OUT,
        (
            "예측 결과와 시간 범위, 평가 방법·시점, 선택 근거, 집단 간 평가 일관성을 정의한다.",
            "Define the outcome and time horizon, how and when it was assessed, why it was chosen, "
            "and whether assessment "
            "was consistent across groups.",
        ),
        ("model-card",),
    ),
    _i(
        "8b",
        _OUT,
        (
            "결과 판정이 주관적이면 판정자의 자격과 특성을 기술한다.",
            "If outcome assessment needs subjective interpretation, describe the assessors.",
        ),
        status="not_applicable",
        reason=(
            "결과는 CDM의 코드와 검사값으로 자동 판정",
            "the outcome is derived automatically from CDM codes and values",
        ),
    ),
    _i(
        "8c",
        _OUT,
        ("결과 평가의 눈가림 조치를 기술한다.", "Report any blinding of outcome assessment."),
        status="not_applicable",
        reason=(
            "결과는 예측과 무관하게 CDM에서 자동 산출",
            "the outcome is computed from the CDM independently of the predictions",
        ),
    ),
    _i(
        "9a",
        _PRED,
        (
            "초기 예측변수 선택과 사전 선별을 기술한다.",
            "Describe the choice of initial predictors and any pre-selection.",
        ),
        reason=_DEV,
    ),
    _i(
        "9b",
        _PRED,
        (
            "모든 예측변수를 측정 방법·시점과 함께 정의한다.",
            "Define all predictors, including how and when they were measured.",
        ),
        ("model-card",),
    ),
    _i(
        "9c",
        _PRED,
        (
            "예측변수 측정이 주관적이면 측정자의 자격과 특성을 기술한다.",
            "If predictor measurement needs subjective interpretation, describe the assessors.",
        ),
        status="not_applicable",
        reason=(
            "예측변수는 코드화된 검사값·진단·인구학 정보",
            "predictors are coded laboratory values, diagnoses and demographics",
        ),
    ),
    _i(
        "10",
        _SIZE,
        (
            "연구 규모의 결정 방법과 충분성, 표본 크기 계산을 기술한다.",
            "Explain how the study size was arrived at and why it suffices, with any sample size calculation.",
        ),
        ("sites",),
        reason=("표본 크기 계산은 연구팀이 작성", "a sample size calculation is for the study team"),
    ),
    _i(
        "11",
        _MISS,
        (
            "결측 자료의 처리와 자료 제외 사유를 기술한다.",
            "Describe how missing data were handled and why any data were omitted.",
        ),
        ("model-card", "sites"),
    ),
    _i(
        "12a",
        _ANA,
        (
            "자료가 분석에 어떻게 쓰였는지(분할 여부 등) 기술한다.",
            "Describe how the data were used in the analysis, including any partitioning.",
        ),
        ("methods",),
    ),
    _i(
        "12b",
        _ANA,
        (
            "예측변수의 함수 형태, 변환, 표준화를 기술한다.",
            "Describe how predictors were handled (functional form, rescaling, transformation, standardisation).",
        ),
        ("model-card",),
    ),
    _i(
        "12c",
        _ANA,
        (
            "모델 유형, 근거, 구축 단계, 초매개변수 조정, 내부 검증 방법을 명시한다.",
            "Specify the type of model, the rationale, all model-building steps, tuning and internal validation.",
        ),
        ("model-card",),
    ),
    _i(
        "12d",
        _ANA,
        (
            "기관 등 군집 간 모수·성능 이질성을 어떻게 다루고 정량화했는지 기술한다.",
            "Describe how heterogeneity in parameters and performance across clusters (e.g. hospitals) was handled and "
            "quantified.",
        ),
        ("methods", "meta-analysis"),
    ),
    _i(
        "12e",
        _ANA,
        (
            "성능 평가에 쓴 모든 지표와 그림, 그 근거를 명시한다.",
            "Specify all measures and plots used to evaluate performance "
            "(discrimination, calibration, clinical utility) "
            "and why.",
        ),
        ("methods",),
    ),
    _i(
        "12f",
        _ANA,
        (
            "평가에 따른 모델 갱신(재보정 등)을 기술한다.",
            "Describe any model updating (e.g. recalibration) arising from the evaluation.",
        ),
        reason=_NO_UPDATE,
        status="not_applicable",
    ),
    _i(
        "12g",
        _ANA,
        (
            "평가 시 예측값의 산출 방식(공식, 코드, 객체, API)을 기술한다.",
            "For evaluation, describe how predictions were calculated (formula, code, object, API).",
        ),
        ("provenance", "methods"),
    ),
    _i(
        "13",
        _IMB,
        (
            "클래스 불균형 처리 방법과 예측값 재보정을 기술한다.",
            "Describe any methods for handling class imbalance and any recalibration of predictions.",
        ),
        reason=_DEV,
    ),
    _i(
        "14",
        _FAIR,
        (
            "모델 공정성을 다룬 접근법과 근거를 기술한다.",
            "Describe any approaches used to address model fairness, and why.",
        ),
        ("subgroups", "model-card"),
    ),
    _i(
        "15",
        _OUTPUT,
        (
            "모델 출력(확률, 분류)과 분류 임계값의 근거를 명시한다.",
            "Specify the model's output (probabilities, classification) and how any thresholds were chosen.",
        ),
        ("methods", "model-card"),
    ),
    _i(
        "16",
        _DIFF,
        (
            "개발·평가 데이터 간 환경, 선정 기준, 결과, 예측변수의 차이와 그 함의를 밝힌다.",
            "Identify differences between development and evaluation data in setting, eligibility, outcome and "
            "predictors, and their implications.",
        ),
        ("model-card", "limitations"),
    ),
    _i(
        "17",
        _ETH,
        (
            "연구를 승인한 IRB와 동의 또는 동의 면제를 밝힌다.",
            "Name the ethics committee that approved the study and describe consent or its waiver.",
        ),
        ("provenance",),
        reason=(
            "데이터 이용 승인(grant) ID만 기록; IRB 정보는 연구팀이 작성",
            "only the data-access grant id is recorded; IRB details are for the study team",
        ),
    ),
    _i(
        "18a",
        _OPEN,
        ("연구비 출처와 역할을 밝힌다.", "Give the source of funding and the funders' role."),
        reason=_TEAM,
    ),
    _i("18b", _OPEN, ("이해상충을 밝힌다.", "Declare any conflicts of interest."), reason=_TEAM),
    _i(
        "18c",
        _OPEN,
        ("연구 프로토콜 접근 방법을 밝힌다.", "Say where the protocol can be accessed, or that there is none."),
        reason=_TEAM,
    ),
    _i(
        "18d",
        _OPEN,
        ("연구 등록 정보를 밝힌다.", "Give registration details, or state that the study was not registered."),
        reason=_TEAM,
    ),
    _i(
        "18e",
        _OPEN,
        ("연구 자료의 공개 여부를 밝힌다.", "Give details of the availability of the study data."),
        ("provenance",),
    ),
    _i(
        "18f",
        _OPEN,
        ("분석 코드의 공개 여부를 밝힌다.", "Give details of the availability of the analytical code."),
        ("provenance",),
    ),
    _i(
        "19",
        _PPI,
        ("환자·대중 참여 내용을 밝힌다.", "Give details of patient and public involvement, or state none."),
        reason=_TEAM,
    ),
    _i(
        "20a",
        _RPART,
        (
            "연구 대상자 흐름(결과 유무별 수 포함)을 기술한다.",
            "Describe the flow of participants, including numbers with and without the outcome.",
        ),
        ("provenance", "sites"),
    ),
    _i(
        "20b",
        _RPART,
        (
            "전체 및 자료원별 대상자 특성을 보고한다.",
            "Report participant characteristics overall and for each data source or setting.",
        ),
        ("sites",),
        reason=(
            "기관별 n·사건 수만 있음; 예측변수 분포는 결과 파일에 없음",
            "only n and events per site; predictor distributions are not in the results",
        ),
    ),
    _i(
        "20c",
        _RPART,
        (
            "평가 자료의 주요 변수 분포를 개발 자료와 비교한다.",
            "For evaluation, compare the distribution of important predictors with the development data.",
        ),
        reason=("예측변수 분포는 결과 파일에 없음", "predictor distributions are not in the results"),
    ),
    _i(
        "21",
        _RDEV,
        (
            "각 분석의 대상자 수와 사건 수를 명시한다.",
            "Specify the number of participants and outcome events in each analysis.",
        ),
        ("sites", "model-card"),
    ),
    _i(
        "22",
        _SPEC,
        (
            "새 환자 예측과 제3자 평가가 가능하도록 전체 모델(공식, 코드, 객체, API)과 접근 제한을 제시한다.",
            "Give the full model (formula, code, object, API) so others can predict and evaluate, with any access "
            "restrictions.",
        ),
        ("provenance", "model-card"),
    ),
    _i(
        "23a",
        _PERF,
        (
            "주요 하위집단을 포함해 성능 추정값을 신뢰구간과 함께 보고한다.",
            "Report performance estimates with confidence intervals, including for key subgroups.",
        ),
        ("sites", "figures", "subgroups"),
    ),
    _i(
        "23b",
        _PERF,
        (
            "군집 간 성능 이질성 분석 결과를 보고한다.",
            "If examined, report heterogeneity in performance across clusters.",
        ),
        ("meta-analysis", "figures"),
    ),
    _i(
        "24",
        _UPD,
        (
            "모델 갱신 결과와 갱신 후 성능을 보고한다.",
            "Report the results of any model updating and the updated model's performance.",
        ),
        reason=_NO_UPDATE,
        status="not_applicable",
    ),
    _i(
        "25",
        _INT,
        (
            "공정성을 포함해 주요 결과를 목적과 선행연구에 비추어 해석한다.",
            "Give an overall interpretation of the results, including fairness, in the light of the objectives and "
            "previous studies.",
        ),
        ("summary",),
        reason=("해석은 연구팀이 작성", "the interpretation is for the study team"),
    ),
    _i(
        "26",
        _LIM,
        (
            "연구의 제한점과 그것이 편향·불확실성·일반화에 미치는 영향을 논의한다.",
            "Discuss the limitations and their effect on bias, uncertainty and generalisability.",
        ),
        ("limitations",),
    ),
    _i(
        "27a",
        _USE,
        (
            "적용 시 입력 자료의 품질 불량·결측을 어떻게 평가하고 처리할지 기술한다.",
            "Describe how poor-quality or unavailable input data should be assessed and handled in use.",
        ),
        ("model-card",),
    ),
    _i(
        "27b",
        _USE,
        (
            "사용자가 입력 자료 처리나 모델 사용에 관여하는지와 필요한 전문성을 명시한다.",
            "Specify whether users must interact with the input data or the model, and the expertise needed.",
        ),
        ("model-card",),
    ),
    _i(
        "27c",
        _USE,
        (
            "적용 가능성과 일반화를 위한 향후 연구를 논의한다.",
            "Discuss next steps for research, with a view to applicability and generalisability.",
        ),
        reason=_TEAM,
    ),
)
