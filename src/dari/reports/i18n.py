"""The report's fixed wording in Korean and English (one table, so both languages stay in step)."""

from __future__ import annotations

from typing import Literal

Lang = Literal["ko", "en"]
LANGS: tuple[Lang, ...] = ("ko", "en")

#: key → (Korean, English)
LABELS: dict[str, tuple[str, str]] = {
    "title": ("다기관 외부 검증 보고서", "Multicenter external validation report"),
    "summary": ("요약", "Summary"),
    "provenance": ("출처 및 실행 정보", "Provenance"),
    "model_card": ("모델 카드", "Model card"),
    "methods": ("방법", "Methods"),
    "sites": ("기관별 성능", "Performance by site"),
    "threshold_table": ("임계값에서의 정확도", "Accuracy at the threshold"),
    "meta": ("무작위효과 메타분석", "Random-effects meta-analysis"),
    "figures": ("그림", "Figures"),
    "fig_roc": ("기관별 ROC 곡선", "ROC curves by site"),
    "fig_calibration": ("기관별 보정 곡선", "Calibration curves by site"),
    "fig_decision": ("결정 곡선(순이익)", "Decision curves (net benefit)"),
    "fig_forest_auroc": ("AUROC 숲 그림", "Forest plot of AUROC"),
    "fig_forest_slope": ("보정 기울기 숲 그림", "Forest plot of the calibration slope"),
    "subgroups": ("하위집단 성능과 공정성 격차", "Subgroup performance and fairness gaps"),
    "limitations": ("제한점", "Limitations"),
    "missing": ("결과 파일에 없는 항목", "Not in the results file"),
    "tripod": ("TRIPOD+AI 점검표", "TRIPOD+AI checklist"),
    "site": ("기관", "Site"),
    "status": ("상태", "Status"),
    "reason": ("사유", "Reason"),
    "grant": ("승인(grant) ID", "Grant id"),
    "cohort": ("코호트(공개 규칙 적용)", "Cohort (disclosure-controlled)"),
    "unscored": ("점수 산출 불가", "Not scorable"),
    "n": ("분석 n", "n analysed"),
    "events": ("사건 수", "Events"),
    "auroc": ("AUROC [95% CI]", "AUROC [95% CI]"),
    "auprc": ("AUPRC", "AUPRC"),
    "citl": ("보정 절편(CITL) [CI]", "Calibration intercept (CITL) [CI]"),
    "slope": ("보정 기울기 [CI]", "Calibration slope [CI]"),
    "ece": ("ECE", "ECE"),
    "brier": ("Brier", "Brier"),
    "sensitivity": ("민감도 [CI]", "Sensitivity [CI]"),
    "specificity": ("특이도 [CI]", "Specificity [CI]"),
    "ppv": ("양성예측도 [CI]", "PPV [CI]"),
    "npv": ("음성예측도 [CI]", "NPV [CI]"),
    "pooled": ("통합(연합 계산)", "Pooled (federated)"),
    "metric": ("지표", "Metric"),
    "estimate": ("추정값 [95% CI]", "Estimate [95% CI]"),
    "pi": ("95% 예측구간", "95% prediction interval"),
    "i2": ("I²", "I²"),
    "k": ("기관 수(k)", "Sites (k)"),
    "tau2": ("τ²", "τ²"),
    "variable": ("변수", "Variable"),
    "level": ("수준", "Level"),
    "gap": ("격차(최대−최소)", "Gap (max − min)"),
    "highest": ("최고", "Highest"),
    "lowest": ("최저", "Lowest"),
    "suppressed": ("비공개", "suppressed"),
    "withheld": ("비공개(작은 칸)", "withheld (small cell)"),
    "ok": ("완료", "ok"),
    "refused": ("거부", "refused"),
    "failed": ("실패", "failed"),
    "item": ("항목", "Item"),
    "section": ("영역", "Section"),
    "recommendation": ("권고 내용", "Recommendation"),
    "where": ("보고 위치", "Where reported"),
    "field": ("항목", "Field"),
    "value": ("값", "Value"),
    "not_applicable": ("해당 없음", "Not applicable"),
    "not_reported": ("이 보고서에서 다루지 않음", "Not reported here"),
    "none": ("없음", "none"),
    "generated": ("생성 시각", "Generated"),
    "page": ("쪽", "page"),
    "run": ("실행", "run"),
    "excluded": ("제외 기관", "Sites left out"),
    "font_note": (
        "한글 글꼴을 찾지 못해 PDF는 영어로 작성했습니다(HTML 보고서는 한국어).",
        "No Hangul font was found, so this PDF is in English (the HTML report is in Korean). Install NanumGothic "
        "or Noto Sans CJK KR, or set DARI_REPORT_FONT to a .ttf/.otf file.",
    ),
}


def t(key: str, lang: Lang) -> str:
    """The label `key` in `lang`."""
    ko, en = LABELS[key]
    return ko if lang == "ko" else en
