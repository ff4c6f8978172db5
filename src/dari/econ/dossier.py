"""The evidence dossier for NECA/HIRA: validation, economic evaluation, model card and real-world evidence, bound.

One document per language (HTML and PDF) for a new-health-technology assessment and a listing application. Every
figure is traceable to its source file (SHA-256), the validation job, its grants and sites, and dates; the model
card, the validation and every monitoring publication must name the same model hash, or the dossier is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages

from dari.econ.hospital import HospitalInputs, hospital_view
from dari.econ.words import LANGS, Lang, money_scale
from dari.errors import InputError
from dari.models.model_card import ModelCard, Text, parse_card
from dari.monitoring.publication import MonitoringPublication
from dari.reports.fonts import figure_lang, rc_for
from dari.reports.results_file import ResultsSummary, parse_summary

# fontTools reports every OpenType table it cannot subset while embedding the Hangul font in a PDF: noise on stderr
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

WORDS: dict[str, tuple[str, str]] = {
    "title": ("근거 자료집 (신의료기술평가·요양급여 결정 신청용)", "Evidence dossier (NECA assessment, HIRA listing)"),
    "technology": ("1. 기술 개요 (모델 카드)", "1. The technology (model card)"),
    "validation": ("2. 다기관 외부 검증", "2. Multicenter external validation"),
    "economics": ("3. 경제성 평가", "3. Economic evaluation"),
    "hospital": ("4. 도입 병원 관점 예산", "4. The adopting hospital's budget"),
    "rwe": ("5. 실사용 근거 (배포 후 모니터링)", "5. Real-world evidence (monitoring after deployment)"),
    "trace": ("6. 추적성: 각 수치의 출처", "6. Traceability: where each figure comes from"),
    "field": ("항목", "Item"),
    "value": ("값", "Value"),
    "site": ("기관", "Site"),
    "status": ("상태", "Status"),
    "sens": ("민감도", "Sensitivity"),
    "spec": ("특이도", "Specificity"),
    "prev": ("유병률", "Prevalence"),
    "pooled": ("통합", "pooled"),
    "strategy": ("전략", "Strategy"),
    "cost": ("비용", "Cost"),
    "year": ("연도", "Year"),
    "uses": ("사용 건수", "Uses"),
    "fees": ("사용료", "Fees"),
    "reimb": ("급여 수입", "Reimbursement"),
    "staff": ("인력 시간(시간)", "Staff time (hours)"),
    "staff_cost": ("인력 비용", "Staff cost"),
    "fixed": ("고정비", "Fixed costs"),
    "net": ("순수지", "Net"),
    "window": ("기간", "Window"),
    "calls": ("호출", "Calls"),
    "scored": ("산출", "Scored"),
    "auroc_live": ("실사용 AUROC (검증값)", "Live AUROC (validated)"),
    "oe": ("관찰/기대 사건", "Observed/expected"),
    "override": ("의료진 무시 비율", "Override rate"),
    "alerts": ("경보", "Alerts"),
    "file": ("파일", "File"),
    "role": ("역할", "Role"),
    "none": ("없음", "none"),
    "no_rwe": ("아직 배포 후 모니터링 자료가 없습니다.", "No monitoring after deployment yet."),
    "budget_impact": ("재정 영향(건강보험)", "Budget impact (NHIS)"),
    "p_ce": ("비용-효과적일 확률", "P(cost-effective)"),
    "name_version": ("이름 / 버전", "name / version"),
    "developer": ("개발자", "developer"),
    "intended_use": ("사용 목적", "intended use"),
    "target_population": ("대상 인구", "target population"),
    "regulatory": ("규제 상태", "regulatory status"),
    "model_hash": ("모델 SHA-256", "model SHA-256"),
}


def w(key: str, lang: Lang) -> str:
    """The word for `key` in `lang`."""
    ko, en = WORDS[key]
    return ko if lang == "ko" else en


@dataclass(frozen=True)
class Source:
    """One input file: its role, path and SHA-256."""

    role: str
    path: str
    sha256: str


@dataclass
class Dossier:
    """Everything bound into the dossier, checked to be about one model."""

    card: ModelCard
    validation: ResultsSummary
    econ: dict[str, Any]
    monitoring: list[MonitoringPublication] = field(default_factory=list)
    hospital: HospitalInputs | None = None
    sources: list[Source] = field(default_factory=list)


def _read(path: Path, role: str) -> tuple[bytes, Source]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the {role}: {exc.strerror}", file=str(path)) from None
    return data, Source(role, str(path), hashlib.sha256(data).hexdigest())


def assemble(
    card: Path,
    validation: Path,
    econ: Path,
    monitoring: list[Path] | None = None,
    hospital: HospitalInputs | None = None,
) -> Dossier:
    """Read and check every part; the model card, validation and monitoring must name the same model."""
    sources: list[Source] = []
    data, src = _read(card, "model card")
    sources.append(src)
    model_card = parse_card(data, source=str(card))
    data, src = _read(validation, "validation results (dari-validation-results/1)")
    sources.append(src)
    try:
        summary = parse_summary(json.loads(data), source=str(validation))
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", file=str(validation), row=exc.lineno) from None
    if summary.model_sha256 != model_card.model_sha256:
        raise InputError(
            f"validated model {summary.model_sha256[:12]}… is not the card's {model_card.model_sha256[:12]}…",
            file=str(validation),
            column="model_sha256",
        )
    data, src = _read(econ, "economic evaluation (dari-econ-results/1)")
    sources.append(src)
    try:
        econ_doc = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", file=str(econ), row=exc.lineno) from None
    if not isinstance(econ_doc, dict) or econ_doc.get("schema") != "dari-econ-results/1":
        raise InputError("not a dari-econ-results/1 file (written by `dari econ run`)", file=str(econ), column="schema")
    pubs = []
    for path in monitoring or []:
        data, src = _read(path, "monitoring publication")
        sources.append(src)
        try:
            pub = MonitoringPublication.model_validate_json(data)
        except ValueError as exc:
            raise InputError(f"not a monitoring publication: {str(exc).splitlines()[0]}", file=str(path)) from None
        if pub.model_sha256 != model_card.model_sha256:
            raise InputError("monitors another model than the card's", file=str(path), column="model_sha256")
        pubs.append(pub)
    return Dossier(model_card, summary, econ_doc, pubs, hospital, sources)


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _ci(estimate: float, low: float, high: float) -> str:
    return f"{estimate:.3f} ({low:.3f}–{high:.3f})"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def sections(d: Dossier, lang: Lang) -> list[tuple[str, list[str], list[list[str]]]]:
    """The dossier as (title, table head, rows), shared by HTML and PDF."""
    c, v, e = d.card, d.validation, d.econ

    def text(x: Text) -> str:
        return x.ko if lang == "ko" else x.en

    kv = [w("field", lang), w("value", lang)]
    out: list[tuple[str, list[str], list[list[str]]]] = [
        (
            w("technology", lang),
            kv,
            [
                [w("name_version", lang), f"{c.name} {c.version} ({c.release_stage})"],
                [w("developer", lang), c.developer],
                [w("intended_use", lang), text(c.intended_use)],
                [w("target_population", lang), text(c.target_population)],
                [w("regulatory", lang), text(c.regulatory_status)],
                [w("model_hash", lang), c.model_sha256],
            ],
        )
    ]
    rows = []
    for site, s in [*v.sites.items(), (w("pooled", lang), v.pooled)]:
        if s is None:
            continue
        acc = s.accuracy
        auroc = (
            "—" if s.auroc is None or s.auroc_ci is None else f"{s.auroc:.3f} ({s.auroc_ci[0]:.3f}–{s.auroc_ci[1]:.3f})"
        )
        rows.append(
            [
                site,
                s.status,
                "—" if s.n is None else f"{s.n:,}",
                _pct(s.prevalence),
                auroc,
                "—" if acc is None else _ci(acc.sensitivity.estimate, acc.sensitivity.ci_low, acc.sensitivity.ci_high),
                "—" if acc is None else _ci(acc.specificity.estimate, acc.specificity.ci_low, acc.specificity.ci_high),
            ]
        )
    out.append(
        (
            w("validation", lang),
            [
                w("site", lang),
                w("status", lang),
                "n",
                w("prev", lang),
                "AUROC (95% CI)",
                w("sens", lang),
                w("spec", lang),
            ],
            rows,
        )
    )
    cur = str(e.get("currency", "KRW"))
    strategies = e.get("strategies", {})
    scale = money_scale([s["cost"] for s in strategies.values()], cur, lang)
    rows = [[k, f"{scale(s['cost'], 2)} {scale.unit}", f"{s['qaly']:.4f}"] for k, s in strategies.items()]
    comp = e.get("comparison", {})
    icer = comp.get("icer")
    lam = money_scale([icer, e.get("wtp")], cur, lang)
    rows.append(["ICER", f"{lam(icer)} {lam.unit}/QALY" if icer is not None else "—", ""])
    psa = e.get("psa")
    if isinstance(psa, dict):
        prob = psa["probability_cost_effective_at_wtp"].get(comp.get("intervention"))
        rows.append(
            [f"{w('p_ce', lang)} (λ = {lam(e.get('wtp'))} {lam.unit})", _pct(prob), f"n = {psa['iterations']:,}"]
        )
    for b in e.get("budget_impact", []):
        bi = money_scale([b["impact"]], cur, lang)
        year = f"{b['year']}년차" if lang == "ko" else f"year {b['year']}"
        rows.append([f"{w('budget_impact', lang)}, {year}", f"{bi(b['impact'])} {bi.unit}", ""])
    out.append((w("economics", lang), [w("strategy", lang), w("cost", lang), "QALY"], rows))
    if d.hospital is not None:
        years = hospital_view(d.hospital)
        hs = money_scale([y.net for y in years] + [y.fees for y in years], "KRW", lang)
        rows = [
            [
                str(y.year),
                f"{y.uses:,.0f}",
                hs(y.fees),
                hs(y.reimbursement),
                f"{y.staff_hours:,.0f}",
                hs(y.staff_cost),
                hs(y.fixed),
                hs(y.net),
            ]
            for y in years
        ]
        head = [w(k, lang) for k in ("year", "uses", "fees", "reimb", "staff", "staff_cost", "fixed", "net")]
        out.append((f"{w('hospital', lang)} ({hs.unit})", head, rows))
    rows = []
    for pub in d.monitoring:
        for win in pub.windows:
            perf, act = win.performance, win.activity
            fb = act.feedback_accepted + act.feedback_overridden
            live = "—" if perf is None or perf.auroc is None else f"{perf.auroc:.3f}"
            live += "" if perf is None or perf.validated_auroc is None else f" ({perf.validated_auroc:.3f})"
            alerts = "; ".join((a.message_ko if lang == "ko" else a.message_en) for a in win.alerts) or w("none", lang)
            rows.append(
                [
                    f"{pub.site_id} {win.start:%Y-%m-%d}–{win.end:%Y-%m-%d}",
                    f"{act.calls:,}",
                    f"{act.scored:,}",
                    live,
                    "—" if perf is None or perf.oe_ratio is None else f"{perf.oe_ratio:.2f}",
                    _pct(act.feedback_overridden / fb if fb else None),
                    alerts,
                ]
            )
    head = [w(k, lang) for k in ("window", "calls", "scored", "auroc_live", "oe", "override", "alerts")]
    out.append((w("rwe", lang), head, rows or [[w("no_rwe", lang), "", "", "", "", "", ""]]))
    grants = sorted({str(s.get("grant_id")) for s in v.detail.get("sites", {}).values() if s.get("grant_id")})
    trace = [[s.role, s.path, s.sha256] for s in d.sources]
    trace += [
        ["validation job", v.job_id, f"written {v.written_at or '—'}; engine {v.engine}"],
        ["sites", ", ".join(v.covered), f"refused {', '.join(v.refused) or '—'}; failed {', '.join(v.failed) or '—'}"],
        ["grants", ", ".join(grants) or "—", ""],
        ["model", c.model_file, c.model_sha256],
        ["economic model", str(e.get("file", "")), str(e.get("model", ""))],
    ]
    out.append((w("trace", lang), [w("role", lang), w("file", lang), "SHA-256 / detail"], trace))
    return out


def html(d: Dossier, lang: Lang) -> str:
    """Self-contained HTML of the dossier in `lang`."""
    body = "".join(f"<h2>{escape(t)}</h2>{_table(h, r)}" for t, h, r in sections(d, lang))
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;margin:8px 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top}"
    )
    return (
        f"<!doctype html><html lang={lang}><head><meta charset=utf-8><title>{escape(d.card.name)}</title>"
        f"<style>{style}</style></head><body><h1>{escape(w('title', lang))}: {escape(d.card.name)}</h1>{body}"
        "</body></html>"
    )


def pdf(d: Dossier, lang: Lang) -> bytes:
    """The dossier as a PDF: one page (or more) per section, tables in the language's font."""
    buf = io.BytesIO()
    with plt.rc_context(rc_for(lang)), PdfPages(buf, metadata={"CreationDate": None}) as pages:  # type: ignore[arg-type]
        for title, head, rows in sections(d, lang):
            for start in range(0, max(len(rows), 1), 25):
                page, ax = plt.subplots(figsize=(11.7, 8.3))
                ax.axis("off")
                ax.set_title(title, loc="left")
                chunk = [[cell[:70] for cell in r] for r in rows[start : start + 25]] or [[""] * len(head)]
                table = ax.table(cellText=chunk, colLabels=head, loc="upper center", cellLoc="left")
                table.auto_set_font_size(False)
                table.set_fontsize(7)
                pages.savefig(page)
                plt.close(page)
    return buf.getvalue()


def render(d: Dossier) -> dict[str, bytes]:
    """dossier.html / dossier.pdf (Korean; the PDF in English without a Hangul font) and dossier.en.html / .pdf."""
    files: dict[str, bytes] = {}
    for lang in LANGS:
        suffix = "" if lang == "ko" else ".en"
        files[f"dossier{suffix}.html"] = html(d, lang).encode()
        files[f"dossier{suffix}.pdf"] = pdf(d, "ko" if figure_lang(lang) == "ko" else "en")
    return files
