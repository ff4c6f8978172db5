"""The pseudonymisation record as a sign-off document for the site's data steward (HTML and A4 PDF, bilingual).

It states, per target, whether the treated data meet it (k-anonymity, prosecutor average and highest risk
against the threshold, l-diversity where a sensitive attribute was assessed), warns in red when any is missed,
sets out what `dari.privacy.risk.enforce_k` would generalise and suppress to reach the target k and what that
costs in information, and ends with a signature block (name, role, date, decision). Only counts, shares, level
names and settings appear: no value of any record.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dari.privacy.risk.models import ReviewReport, RiskReport

if TYPE_CHECKING:
    from dari.privacy.ingest import PseudonymisationRecord
    from dari.reports.report_model import Section

L_TARGET = 2  # distinct l-diversity asked of a class when a sensitive attribute is assessed


def _b(ko: str, en: str) -> str:
    return f"{ko} / {en}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


@dataclass(frozen=True)
class Verdict:
    """One target: what was required, what the treated data achieve, and whether that passes."""

    target: str
    required: str
    achieved: str
    passed: bool


def verdicts(record: PseudonymisationRecord) -> list[Verdict]:
    """Pass/fail of the treated data (risk after) against each target of the policy."""
    if not record.risk_after:
        return []
    after = RiskReport.model_validate(record.risk_after)
    th = after.threshold
    out = [
        Verdict(_b("k-익명성", "k-anonymity"), f"k ≥ {record.k_target}", f"k = {after.k}", after.k >= record.k_target),
        Verdict(
            _b("평균 재식별 위험(검사자)", "Average risk (prosecutor)"),
            f"≤ {_pct(th)}",
            _pct(after.prosecutor.average_risk),
            after.prosecutor.average_risk <= th,
        ),
        Verdict(
            _b("최고 재식별 위험(검사자)", "Highest risk (prosecutor)"),
            f"≤ {_pct(th)}",
            _pct(after.prosecutor.highest_risk),
            after.prosecutor.highest_risk <= th,
        ),
    ]
    if after.l_distinct is not None:
        out.append(
            Verdict(
                _b("l-다양성(구별)", "Distinct l-diversity"),
                f"l ≥ {L_TARGET}",
                f"l = {after.l_distinct}",
                after.l_distinct >= L_TARGET,
            )
        )
    return out


def _risk_rows(before: RiskReport | None, after: RiskReport | None) -> tuple[tuple[str, ...], ...]:
    def col(r: RiskReport | None, f: Any) -> str:
        return "—" if r is None else str(f(r))

    rows = [
        (_b("레코드", "Records"), lambda r: f"{r.records:,}"),
        (_b("동질집합", "Equivalence classes"), lambda r: f"{r.classes:,}"),
        (_b("k (최소 동질집합 크기)", "k (smallest class)"), lambda r: r.k),
        (_b("위험 레코드 비율", "Records at risk"), lambda r: _pct(r.prosecutor.records_at_risk)),
        (_b("평균 위험", "Average risk"), lambda r: _pct(r.prosecutor.average_risk)),
        (_b("최고 위험", "Highest risk"), lambda r: _pct(r.prosecutor.highest_risk)),
        (_b("마케터 위험", "Marketer risk"), lambda r: _pct(r.marketer)),
    ]
    return tuple((name, col(before, f), col(after, f)) for name, f in rows)


def _plan(record: PseudonymisationRecord) -> Section:
    from dari.reports.report_model import Section, Table

    title = _b(f"k = {record.k_target} 달성 방안", f"How k = {record.k_target} is reached")
    if record.k_review_error:
        return Section(
            id="plan",
            title=title,
            alerts=(_b("방안을 찾지 못함", "No plan found") + f": {record.k_review_error}",),
        )
    if not record.k_review:
        return Section(
            id="plan",
            title=title,
            paragraphs=(_b("처리 후 자료가 이미 목표 k를 충족함", "The treated data already meet the target k") + ".",),
        )
    rv = ReviewReport.model_validate(record.k_review)
    levels = Table(
        head=(_b("준식별자", "Quasi-identifier"), _b("계층", "Hierarchy"), _b("수준", "Level"), _b("결과", "Result")),
        rows=tuple(
            (q.column, q.hierarchy, f"{q.level} / {q.max_level}", _b(q.level_ko, q.level_en))
            for q in rv.quasi_identifiers
        ),
        caption=_b(
            "원자료 준식별자에 대한 ARX식 격자 탐색 결과", "ARX-style lattice search over the raw quasi-identifiers"
        )
        + f" ({rv.nodes_evaluated:,} / {rv.nodes_total:,})",
    )
    loss = Table(
        head=(_b("항목", "Figure"), _b("값", "Value")),
        rows=(
            (_b("삭제 레코드", "Records suppressed"), f"{rv.suppressed:,} / {rv.records_in:,}"),
            (
                _b("삭제 비율 (허용 최대)", "Suppressed share (maximum allowed)"),
                f"{_pct(rv.loss.suppressed_share)} ({_pct(rv.policy.max_suppression)})",
            ),
            (_b("정밀도 손실 (1 − Prec)", "Precision loss (1 − Prec)"), f"{rv.loss.precision:.3f}"),
            (_b("구별력 지표 (DM / n²)", "Discernibility (DM / n²)"), f"{rv.loss.discernibility_normalised:.4f}"),
            (_b("방안 적용 후 k", "k with the plan"), str(rv.after.k)),
            (_b("방안 적용 후 평균 위험", "Average risk with the plan"), _pct(rv.after.prosecutor.average_risk)),
            (_b("방안 적용 후 최고 위험", "Highest risk with the plan"), _pct(rv.after.prosecutor.highest_risk)),
        ),
    )
    para = _b(
        f"아래 일반화와 {rv.suppressed:,}건 삭제를 적용하면 k = {rv.after.k}이 된다. 이는 권고안이며 CDM은 정책의 "
        "처리를 그대로 유지한다: 적용하려면 정책을 바꾸어 다시 적재한다.",
        f"With the generalisation below and {rv.suppressed:,} records suppressed, k = {rv.after.k}. This is a "
        "recommendation; the CDM keeps the policy's own treatments: to apply it, change the policy and ingest again.",
    )
    return Section(id="plan", title=title, paragraphs=(para,), tables=(levels, loss))


def signoff_sections(record: PseudonymisationRecord) -> tuple[Section, ...]:
    """The document's sections: verdict, settings, treatments, risk before/after, the k plan, the signature."""
    from dari.reports.report_model import Section, Table

    vs = verdicts(record)
    failed = [v for v in vs if not v.passed]
    verdict_table = Table(
        head=(_b("목표", "Target"), _b("기준", "Required"), _b("처리 후", "Achieved"), _b("판정", "Verdict")),
        rows=tuple(
            (v.target, v.required, v.achieved, _b("통과", "PASS") if v.passed else _b("미달", "FAIL")) for v in vs
        ),
        emphasis=tuple(i for i, v in enumerate(vs) if not v.passed),
    )
    alerts: tuple[str, ...] = ()
    if failed:
        alerts = (
            _b(
                f"경고: 처리 후 자료가 목표 {len(failed)}개를 충족하지 못함",
                f"WARNING: the treated data miss {len(failed)} target(s)",
            )
            + ": "
            + "; ".join(f"{v.target} {v.achieved} ({v.required})" for v in failed)
            + ". "
            + _b(
                "이대로 승인하지 말고 아래 달성 방안을 검토할 것.",
                "Do not approve as is: see the plan below.",
            ),
        )
    elif not vs:
        alerts = (_b("위험 평가 결과 없음: 판정 불가", "No risk assessment in the record: no verdict possible"),)
    summary = Section(
        id="verdict",
        title=_b("판정", "Verdict"),
        alerts=alerts,
        paragraphs=()
        if failed or not vs
        else (_b("처리 후 자료가 모든 목표를 충족함.", "The treated data meet every target."),),
        tables=(verdict_table,),
    )
    settings = Section(
        id="settings",
        title=_b("처리 설정", "Settings"),
        tables=(
            Table(
                head=(_b("항목", "Field"), _b("값", "Value")),
                rows=(
                    (_b("기관", "Site"), record.site_id),
                    (_b("정책", "Policy"), record.policy),
                    (_b("키 지문", "Key fingerprint"), record.key_fingerprint),
                    (_b("날짜 이동", "Date shift"), f"±{record.max_shift_days} {_b('일', 'days')}"),
                    (_b("자유기술", "Notes"), record.notes),
                    (_b("작성 시각", "Created"), record.created_at),
                ),
            ),
            Table(
                head=(_b("열", "Column"), _b("처리", "Treatment")),
                rows=tuple(record.treatments.items()),
                caption=_b("열별 처리", "Treatment per column"),
            ),
        ),
    )
    before = RiskReport.model_validate(record.risk_before) if record.risk_before else None
    after = RiskReport.model_validate(record.risk_after) if record.risk_after else None

    def qis(r: RiskReport | None) -> str:
        return ", ".join(r.quasi_identifiers) if r else "—"

    risk = Section(
        id="risk",
        title=_b("재식별 위험 (검사자 모델)", "Re-identification risk (prosecutor model)"),
        paragraphs=(
            _b("준식별자(처리 전)", "Quasi-identifiers (before)") + f": {qis(before)}",
            _b("준식별자(처리 후)", "Quasi-identifiers (after)") + f": {qis(after)}",
        ),
        tables=(
            Table(
                head=(_b("항목", "Figure"), _b("처리 전", "Before"), _b("처리 후", "After")),
                rows=_risk_rows(before, after),
            ),
        ),
    )
    blank = "\n" + "_" * 30  # two lines a row: room to write by hand
    sign = Section(
        id="signature",
        title=_b("데이터 관리자 서명", "Data steward sign-off"),
        paragraphs=(
            _b(
                "결정: ☐ 승인  ☐ 조건부 승인(조건 기재)  ☐ 반려",
                "Decision: ☐ approve  ☐ approve with conditions (state them)  ☐ reject",
            ),
        ),
        tables=(
            Table(
                head=(_b("항목", "Field"), _b("기재", "Entry")),
                rows=(
                    (_b("성명", "Name"), blank),
                    (_b("직위·역할", "Role"), blank),
                    (_b("일자", "Date"), blank),
                    (_b("결정", "Decision"), blank),
                    (_b("조건·사유", "Conditions / reasons"), blank),
                    (_b("서명", "Signature"), blank),
                ),
            ),
        ),
    )
    return (summary, settings, risk, _plan(record), sign)


def render_signoff_pdf(record: PseudonymisationRecord) -> bytes:
    """The sign-off document as an A4 PDF (matplotlib; the Hangul font embedded)."""
    from dari.reports.render_pdf import Document, render_document

    doc = Document(
        lang="ko",
        title=_b("가명처리 기록 승인서", "Pseudonymisation record sign-off") + f" — {record.site_id}",
        subtitle=f"{record.created_at} · {_b('키 지문', 'key')} {record.key_fingerprint}",
        sections=signoff_sections(record),
        footer=f"dari {_b('가명처리 기록', 'pseudonymisation record')} · {record.site_id} · {record.created_at}",
        page_word=_b("쪽", "page"),
    )
    return render_document(doc)


_CSS = """body{font-family:DariHangul,"Noto Sans KR","Malgun Gothic",NanumGothic,sans-serif;max-width:960px;margin:auto;
padding:0 1em 3em;color:#222}h1{font-size:1.45em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.5em}
table{border-collapse:collapse;margin:.6em 0;font-size:14px}td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#eee}tr.em td{background:#fdecee;color:#b00020;font-weight:bold}
.alert{border:2px solid #b00020;background:#fdecee;color:#b00020;font-weight:bold;padding:.6em .9em;margin:.8em 0}
td.pass{color:#116611;font-weight:bold}caption{caption-side:bottom;text-align:left;color:#555;font-size:12px}
.sign td{height:2.2em;min-width:18em}.meta{color:#555}"""


def _html_table(tb: Any, cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in tb.head)
    rows = []
    for i, r in enumerate(tb.rows):
        em = ' class="em"' if i in tb.emphasis else ""
        rows.append(f"<tr{em}>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
    cap = f"<caption>{html.escape(tb.caption)}</caption>" if tb.caption else ""
    return f'<table class="{cls}">{cap}<tr>{head}</tr>{"".join(rows)}</table>'


def render_signoff_html(record: PseudonymisationRecord) -> str:
    """The sign-off document as one self-contained HTML page (styled, the Hangul font embedded as a subset)."""
    from dari.reports.render_html import FONT_SLOT, embed_font

    title = _b("가명처리 기록 승인서", "Pseudonymisation record sign-off") + f" — {record.site_id}"
    parts = [
        f'<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        f"<style>{FONT_SLOT}</style><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(record.created_at)} · {html.escape(record.policy)}</p>',
    ]
    for s in signoff_sections(record):
        parts.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>')
        parts += [f'<div class="alert" role="alert">{html.escape(a)}</div>' for a in s.alerts]
        parts += [f"<p>{html.escape(p)}</p>" for p in s.paragraphs]
        parts += [_html_table(tb, "sign" if s.id == "signature" else "") for tb in s.tables]
        parts.append("</section>")
    parts.append("</body></html>\n")
    return embed_font("\n".join(parts))
