"""Bilingual (Korean / English) HTML rendering of risk and review reports with string.Template.

Only counts, shares, level numbers and level names are rendered; every inserted string is HTML-escaped.
"""

from __future__ import annotations

from html import escape
from string import Template
from typing import Literal

from dari.privacy.risk.models import ReviewReport, RiskReport

Lang = Literal["ko", "en", "both"]

LABELS: dict[str, tuple[str, str]] = {
    "risk_title": ("재식별 위험 평가", "Re-identification risk assessment"),
    "review_title": ("가명처리 적정성 검토 자료", "Pseudonymisation appropriateness review"),
    "records": ("레코드 수", "Records"),
    "classes": ("동질집합 수", "Equivalence classes"),
    "qis": ("준식별자", "Quasi-identifiers"),
    "k": ("k-익명성 (최소 동질집합 크기)", "k-anonymity (smallest class)"),
    "l_distinct": ("l-다양성 (구별)", "Distinct l-diversity"),
    "l_entropy": ("l-다양성 (엔트로피)", "Entropy l-diversity"),
    "t": ("t-근접성 (EMD)", "t-closeness (EMD)"),
    "sensitive": ("민감속성", "Sensitive attribute"),
    "threshold": ("위험 임계값", "Risk threshold"),
    "p_at_risk": ("검사자 모델: 위험 레코드 비율", "Prosecutor: records at risk"),
    "p_highest": ("검사자 모델: 최고 위험", "Prosecutor: highest risk"),
    "p_average": ("검사자 모델: 평균 위험", "Prosecutor: average risk"),
    "j_at_risk": ("언론인 모델: 위험 레코드 비율", "Journalist: records at risk"),
    "j_highest": ("언론인 모델: 최고 위험", "Journalist: highest risk"),
    "j_average": ("언론인 모델: 평균 위험", "Journalist: average risk"),
    "j_note": (
        "모집단 표가 없어 언론인 위험은 검사자 위험과 같습니다.",
        "No population table: journalist risk equals prosecutor risk.",
    ),
    "marketer": ("마케터 모델: 위험", "Marketer risk"),
    "sizes": ("동질집합 크기 분포", "Class-size distribution"),
    "size": ("크기", "Size"),
    "records_in_bin": ("레코드", "Records"),
    "policy": ("정책 기준", "Policy thresholds"),
    "target_k": ("목표 k", "Target k"),
    "max_suppression": ("최대 삭제 비율", "Maximum suppression"),
    "metric": ("정보손실 기준", "Loss metric"),
    "generalisation": ("일반화 수준", "Generalisation levels"),
    "column": ("열", "Column"),
    "hierarchy": ("계층", "Hierarchy"),
    "level": ("수준", "Level"),
    "suppressed": ("삭제된 레코드", "Suppressed records"),
    "suppressed_share": ("삭제 비율", "Suppressed share"),
    "loss": ("정보 손실", "Information loss"),
    "precision": ("정밀도 손실 (1 − Prec)", "Precision loss (1 − Prec)"),
    "dm": ("구별력 지표 (DM / n²)", "Discernibility (DM / n²)"),
    "before": ("처리 전", "Before"),
    "after": ("처리 후", "After"),
    "figure": ("항목", "Figure"),
    "nodes": ("평가한 격자 노드", "Lattice nodes evaluated"),
}

PAGE = Template("""<!DOCTYPE html>
<html lang="$lang"><head><meta charset="utf-8"><title>$title_text</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #999;padding:4px 8px;text-align:left}td.n{text-align:right}.en{color:#555}</style>
</head><body><h1>$title</h1>
$body
</body></html>
""")


def label(key: str, lang: Lang) -> str:
    """A label in one language, or both side by side."""
    ko, en = LABELS[key]
    if lang == "ko":
        return escape(ko)
    if lang == "en":
        return escape(en)
    return f'<span lang="ko">{escape(ko)}</span> / <span lang="en" class="en">{escape(en)}</span>'


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.2%}"


def _num(x: float | int | None) -> str:
    if x is None:
        return "–"
    return f"{x:,}" if isinstance(x, int) else f"{x:.4g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _figures(reports: list[RiskReport], lang: Lang) -> list[list[str]]:
    def row(key: str, values: list[str]) -> list[str]:
        return [label(key, lang), *values]

    return [
        row("records", [_num(r.records) for r in reports]),
        row("classes", [_num(r.classes) for r in reports]),
        row("k", [_num(r.k) for r in reports]),
        row("l_distinct", [_num(r.l_distinct) for r in reports]),
        row("l_entropy", [_num(r.l_entropy) for r in reports]),
        row("t", [_num(r.t_closeness) for r in reports]),
        row("threshold", [_pct(r.threshold) for r in reports]),
        row("p_at_risk", [_pct(r.prosecutor.records_at_risk) for r in reports]),
        row("p_highest", [_pct(r.prosecutor.highest_risk) for r in reports]),
        row("p_average", [_pct(r.prosecutor.average_risk) for r in reports]),
        row("j_at_risk", [_pct(r.journalist.records_at_risk) for r in reports]),
        row("j_highest", [_pct(r.journalist.highest_risk) for r in reports]),
        row("j_average", [_pct(r.journalist.average_risk) for r in reports]),
        row("marketer", [_pct(r.marketer) for r in reports]),
    ]


def _sizes(report: RiskReport, lang: Lang) -> str:
    rows = [[escape(b.size), _num(b.classes), _num(b.records)] for b in report.class_sizes]
    return _table([label("size", lang), label("classes", lang), label("records_in_bin", lang)], rows)


def _notes(reports: list[RiskReport], lang: Lang) -> str:
    return f"<p>{label('j_note', lang)}</p>" if any(not r.journalist_population for r in reports) else ""


def _header(report: RiskReport, lang: Lang) -> str:
    qis = escape(", ".join(report.quasi_identifiers))
    sensitive = f"; {label('sensitive', lang)}: {escape(report.sensitive)}" if report.sensitive else ""
    return f"<p>{label('qis', lang)}: {qis}{sensitive}</p>"


def render_risk(report: RiskReport, lang: Lang) -> str:
    """HTML page for one risk report."""
    body = [
        _header(report, lang),
        _table([label("figure", lang), ""], _figures([report], lang)),
        _notes([report], lang),
        f"<h2>{label('sizes', lang)}</h2>",
        _sizes(report, lang),
    ]
    return _page("risk_title", lang, "\n".join(body))


def render_review(review: ReviewReport, lang: Lang) -> str:
    """HTML page for a k-anonymisation review: policy, levels, suppression, loss, risk before and after."""
    policy = review.policy
    levels = [
        [
            escape(q.column),
            escape(q.hierarchy),
            f"{q.level} / {q.max_level}",
            escape(q.level_ko if lang == "ko" else q.level_en if lang == "en" else f"{q.level_ko} / {q.level_en}"),
        ]
        for q in review.quasi_identifiers
    ]
    body = [
        _header(review.before, lang),
        f"<h2>{label('policy', lang)}</h2>",
        _table(
            [label("figure", lang), ""],
            [
                [label("target_k", lang), _num(policy.k)],
                [label("max_suppression", lang), _pct(policy.max_suppression)],
                [label("threshold", lang), _pct(policy.threshold)],
                [label("metric", lang), escape(policy.metric)],
            ],
        ),
        f"<h2>{label('generalisation', lang)}</h2>",
        _table([label("column", lang), label("hierarchy", lang), label("level", lang), ""], levels),
        f"<h2>{label('loss', lang)}</h2>",
        _table(
            [label("figure", lang), ""],
            [
                [label("suppressed", lang), _num(review.suppressed)],
                [label("suppressed_share", lang), _pct(review.loss.suppressed_share)],
                [label("precision", lang), _num(review.loss.precision)],
                [label("dm", lang), _num(review.loss.discernibility_normalised)],
                [label("nodes", lang), f"{review.nodes_evaluated:,} / {review.nodes_total:,}"],
            ],
        ),
        _table(
            [label("figure", lang), label("before", lang), label("after", lang)],
            _figures([review.before, review.after], lang),
        ),
        _notes([review.before, review.after], lang),
        f"<h2>{label('sizes', lang)} ({label('before', lang)})</h2>",
        _sizes(review.before, lang),
        f"<h2>{label('sizes', lang)} ({label('after', lang)})</h2>",
        _sizes(review.after, lang),
    ]
    return _page("review_title", lang, "\n".join(body))


def _page(title_key: str, lang: Lang, body: str) -> str:
    ko, en = LABELS[title_key]
    title_text = ko if lang == "ko" else en if lang == "en" else f"{ko} / {en}"
    return PAGE.substitute(
        lang="en" if lang == "en" else "ko", title_text=escape(title_text), title=label(title_key, lang), body=body
    )
