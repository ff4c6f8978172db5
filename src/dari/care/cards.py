"""CDS Hooks 2.0 cards: a short summary in Korean or English, an indicator by declared thresholds, and a
markdown detail listing the inputs that moved the score most, in plain words, with their values."""

from __future__ import annotations

import uuid
from typing import Any

from dari.care.fhir_inputs import MappedInputs
from dari.care.served_model import Score, ServedModel
from dari.care.settings import CdsSettings, Locale
from dari.models.feature_spec import Feature, MeasurementSource

SUMMARY_MAX = 139  # CDS Hooks: summary SHALL be under 140 characters
TOP_FEATURES = 4
OVERRIDE_REASON_SYSTEM = "urn:dari:cds:override-reason"
OVERRIDE_REASONS: tuple[tuple[str, str, str], ...] = (
    ("not-applicable", "이 환자에게 해당하지 않음", "Does not apply to this patient"),
    ("data-inaccurate", "입력 자료가 부정확함", "Input data are inaccurate"),
    ("already-addressed", "이미 조치함", "Already addressed"),
    ("disagree-risk", "위험도에 동의하지 않음", "Disagree with the estimated risk"),
)
_LEVEL = {
    "info": {"ko": "낮음", "en": "low"},
    "warning": {"ko": "중간", "en": "moderate"},
    "critical": {"ko": "높음", "en": "high"},
}
_UNIT_DISPLAY = {"mL/min/{1.73_m2}": "mL/min/1.73m²", "mm[Hg]": "mmHg", "a": ""}


def indicator_for(probability: float, settings: CdsSettings) -> str:
    """`info`, `warning` or `critical` by the configured thresholds."""
    if probability >= settings.thresholds.critical:
        return "critical"
    return "warning" if probability >= settings.thresholds.warning else "info"


def locale_from(extension: dict[str, Any] | None, accept_language: str | None, default: Locale) -> Locale:
    """`extension.locale` of the request, else the first ko/en tag of Accept-Language, else the default."""
    asked = extension.get("locale") if isinstance(extension, dict) else None
    candidates = [asked] if isinstance(asked, str) else []
    if accept_language:
        candidates += [part.split(";")[0].strip() for part in accept_language.split(",")]
    for tag in candidates:
        primary = tag.lower().split("-")[0]
        if primary == "ko":
            return "ko"
        if primary == "en":
            return "en"
    return default


def _label(f: Feature, locale: Locale) -> str:
    return f.label_ko if locale == "ko" else f.label_en


def _value_text(f: Feature, mapped: MappedInputs, locale: Locale) -> str:
    value = mapped.raw.get(f.name)
    ko = locale == "ko"
    if f.name in mapped.imputed:
        assumed = f.missing.value if hasattr(f.missing, "value") else None
        shown = (
            _number(f, assumed)
            if not f.is_indicator
            else ("있음" if assumed else "없음")
            if ko
            else ("yes" if assumed else "no")
        )
        return f"기록 없음({shown}으로 가정)" if ko else f"no record (taken as {shown})"
    if f.is_indicator:
        if f.name == "male":
            return ("남성" if value else "여성") if ko else ("male" if value else "female")
        return ("있음" if value else "없음") if ko else ("present" if value else "absent")
    if isinstance(f.source, MeasurementSource) or f.unit:
        return _number(f, value) + (("세" if ko else " years") if f.unit == "a" else "")
    return str(value)


def _number(f: Feature, value: object) -> str:
    if not isinstance(value, int | float):
        return "?"
    unit = _UNIT_DISPLAY.get(f.unit or "", f.unit or "")
    text = f"{value:.0f}" if f.unit == "a" else f"{value:.4g}"
    return f"{text} {unit}".strip()


def _detail(model: ServedModel, mapped: MappedInputs, score: Score, locale: Locale) -> str:
    ko = locale == "ko"
    spec = model.spec
    lines = [f"**{spec.outcome.label_ko if ko else spec.outcome.label_en}**: {score.probability:.1%}", ""]
    if score.contributions:
        ranked = sorted(score.contributions.items(), key=lambda kv: abs(kv[1]), reverse=True)[:TOP_FEATURES]
        if score.explanation == "tree_shap":
            lines.append(
                "위험에 가장 크게 영향을 준 항목 (SHAP, 모델의 기준 환자군 대비):"
                if ko
                else "What moved the risk most (SHAP, against the model's reference patients):"
            )
        else:
            lines.append("위험에 가장 크게 영향을 준 항목:" if ko else "What moved the risk most:")
        for name, share in ranked:
            f = spec.feature(name)
            way = (
                ("위험을 높임" if share > 0 else "위험을 낮춤")
                if ko
                else ("raises risk" if share > 0 else "lowers risk")
            )
            lines.append(f"- {_label(f, locale)}: {_value_text(f, mapped, locale)} — {way}")
    others = [f for f in spec.features if f.name in mapped.imputed]
    if others:
        lines += [
            "",
            ("기록이 없어 가정한 값: " if ko else "Assumed for lack of a record: ")
            + ", ".join(f"{_label(f, locale)}" for f in others),
        ]
    stage = model.card.release_stage
    lines += [
        "",
        f"{'모델' if ko else 'Model'}: {spec.name} {spec.version} ({stage}); "
        f"{'평가 기준일' if ko else 'evaluated as of'} {mapped.at.isoformat()}",
    ]
    if stage == "research":
        lines.append(
            "연구용 모델이며 진료 결정을 대신하지 않습니다." if ko else "Research model: not for clinical decisions."
        )
    return "\n".join(lines)


def _summary(model: ServedModel, probability: float, indicator: str, locale: Locale) -> str:
    level = _LEVEL[indicator][locale]
    outcome = model.spec.outcome.label_ko if locale == "ko" else model.spec.outcome.label_en
    text = (
        f"{outcome} 위험 {probability:.0%} ({level})"
        if locale == "ko"
        else f"Risk of {outcome}: {probability:.0%} ({level})"
    )
    if len(text) > SUMMARY_MAX:
        text = f"{model.spec.name} {probability:.0%} ({level})"
    return text[:SUMMARY_MAX]


def build_card(
    model: ServedModel, mapped: MappedInputs, score: Score, settings: CdsSettings, locale: Locale
) -> dict[str, Any]:
    """One CDS Hooks 2.0 card (a JSON object) with a fresh uuid for feedback."""
    indicator = indicator_for(score.probability, settings)
    card_url = settings.model_card_url or f"{settings.base_url}/models/{model.spec.name}/model-card"
    ko = locale == "ko"
    links = [{"label": "모델 카드" if ko else "Model card", "url": card_url, "type": "absolute"}]
    if settings.validation_report_url:
        label = "검증 보고서" if ko else "Validation report"
        links.append({"label": label, "url": settings.validation_report_url, "type": "absolute"})
    return {
        "uuid": str(uuid.uuid4()),
        "summary": _summary(model, score.probability, indicator, locale),
        "detail": _detail(model, mapped, score, locale),
        "indicator": indicator,
        "source": {"label": f"dari {model.card.name} {model.card.version}", "url": card_url},
        "links": links,
        "overrideReasons": [
            {"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": ko_text if ko else en_text}
            for code, ko_text, en_text in OVERRIDE_REASONS
        ],
    }
