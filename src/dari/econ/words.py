"""The econ report's words in Korean and English, and money as Korean readers expect it (만원, 억원).

Amounts in KRW are shown in 만원 (10⁴) or 억원 (10⁸) in Korean and in KRW thousand/million/billion in English,
chosen from the size of the numbers on an axis or in a column; other currencies keep their units with separators.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Lang = Literal["ko", "en"]
LANGS: tuple[Lang, ...] = ("ko", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    "title": ("경제성 평가 보고서", "Economic evaluation"),
    "objective": ("1. 목적", "1. Objective"),
    "population": ("2. 대상 인구", "2. Target population"),
    "comparators": ("3. 비교 대상", "3. Comparators"),
    "perspective": ("4. 분석 관점", "4. Perspective"),
    "horizon": ("5. 시간 범위", "5. Time horizon"),
    "discount": ("6. 할인율", "6. Discount rates"),
    "results": ("7. 결과", "7. Results"),
    "sensitivity": ("8. 민감도 분석", "8. Sensitivity analysis"),
    "budget": ("9. 예산 영향", "9. Budget impact"),
    "structure": ("10. 모형 구조", "10. Model structure"),
    "inputs": ("11. 입력값과 출처", "11. Inputs and their sources"),
    "strategy": ("전략", "Strategy"),
    "label": ("설명", "Label"),
    "cost": ("비용", "Cost"),
    "qaly": ("QALY", "QALY"),
    "ly": ("생존연수", "Life-years"),
    "undiscounted": ("할인 전", "undiscounted"),
    "status": ("지배 여부", "Status"),
    "versus": ("비교", "vs"),
    "icer": ("ICER", "ICER"),
    "frontier": ("효율 경계", "frontier"),
    "dominated": ("지배됨", "dominated"),
    "extendedly dominated": ("확장 지배됨", "extendedly dominated"),
    "parameter": ("모수", "Parameter"),
    "code": ("코드", "Code"),
    "value": ("기본값", "Base value"),
    "unit": ("단위", "Unit"),
    "distribution": ("분포", "Distribution"),
    "source": ("출처", "Source"),
    "no_source": ("출처 없음", "no source given"),
    "year": ("연도", "Year"),
    "eligible": ("대상자 수", "Eligible"),
    "uptake": ("도입률", "Uptake"),
    "current": ("현재 시나리오", "Current"),
    "new": ("신규 시나리오", "New"),
    "offset": ("고정비/절감", "Offset"),
    "impact": ("재정 영향", "Impact"),
    "inc_qaly": ("증분 QALY", "Incremental QALYs"),
    "inc_cost": ("증분 비용", "Incremental cost"),
    "wtp": ("지불 의사 금액", "Willingness to pay"),
    "per_qaly": ("/QALY", "/QALY"),
    "p_ce": ("비용-효과적일 확률", "P(cost-effective)"),
    "evpi": ("1인당 완전정보의 기대가치(EVPI)", "EVPI per person"),
    "evppi": ("모수군별 부분정보 기대가치(EVPPI)", "EVPPI by parameter group"),
    "ce_plane": ("비용-효과 평면", "Cost-effectiveness plane"),
    "ceac": ("비용-효과 수용 곡선", "Acceptability curves"),
    "tornado": ("일원 민감도 분석", "One-way sensitivity"),
    "inmb": ("증분 순편익", "Incremental NMB"),
    "low": ("하한", "low"),
    "high": ("상한", "high"),
    "mean": ("평균", "mean"),
    "cycle": ("주기", "cycle"),
    "share": ("코호트 비율", "share of cohort"),
    "psa_none": ("확률적 민감도 분석 미실시", "PSA not run"),
    "iterations": ("반복", "iterations"),
    "cycles": ("주기", "cycles"),
    "years": ("년", "year(s)"),
    "costs": ("비용", "costs"),
    "effects": ("효과", "effects"),
    "per_year": ("연간", "per year"),
    "model_file": ("모형 파일", "Model file"),
}


def t(key: str, lang: Lang) -> str:
    """The word for `key` in `lang`."""
    ko, en = MESSAGES[key]
    return ko if lang == "ko" else en


@dataclass(frozen=True)
class MoneyScale:
    """Divide by `divisor` and write `unit` (e.g. 1e8, "억원")."""

    divisor: float
    unit: str

    def __call__(self, x: float | None, digits: int = 1) -> str:
        """x in this scale, with separators."""
        if x is None:
            return "—"
        v = x / self.divisor
        return f"{v:,.{digits}f}" if self.divisor > 1 else f"{v:,.0f}"


def money_scale(values: Iterable[float | None], currency: str, lang: Lang) -> MoneyScale:
    """The unit that suits the largest magnitude among `values` (만원/억원 in Korean for KRW)."""
    top = max((abs(v) for v in values if v is not None), default=0.0)
    if currency != "KRW":
        return MoneyScale(1.0, currency)
    if lang == "ko":
        if top >= 1e8:
            return MoneyScale(1e8, "억원")
        if top >= 1e4:
            return MoneyScale(1e4, "만원")
        return MoneyScale(1.0, "원")
    for divisor, unit in ((1e9, "KRW billion"), (1e6, "KRW million"), (1e3, "KRW thousand")):
        if top >= divisor:
            return MoneyScale(divisor, unit)
    return MoneyScale(1.0, "KRW")
