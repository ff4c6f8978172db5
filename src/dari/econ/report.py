"""Reports in Korean and English: self-contained HTML laid out as NECA/HIRA submissions expect, PDF, JSON.

`report.html` / `report.pdf` are Korean, `report.en.html` / `report.en.pdf` English. Money is shown in 만원/억원
(Korean) or KRW thousand/million/billion (English), parameters by their labels, and every input with its source.
Without a Hangul font, the Korean PDF and figures fall back to English words (matplotlib would draw empty boxes).
"""

from __future__ import annotations

import base64
import io
import json
import logging
from html import escape
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from dari.atomic import atomic_path
from dari.econ import plots
from dari.econ.analysis import Analysis
from dari.econ.spec import Distribution
from dari.econ.words import LANGS, Lang, MoneyScale, money_scale, t
from dari.reports.fonts import figure_lang, rc_for

THRESHOLD_NOTE = {
    "ko": "한국에는 공식 ICER 임계값이 없습니다. 심평원(HIRA) 약제 경제성평가에서는 1인당 GDP"
    "(약 2,000만–5,000만 원/QALY) 수준이 탄력적으로 참고되며, 질병 중증도·희귀성 등에 따라 달리 적용됩니다. "
    "여기서 쓴 값은 분석 설정입니다.",
    "en": "Korea has no official cost-per-QALY threshold; HIRA's appraisals refer flexibly to about one GDP per capita "
    "(commonly cited KRW 20–50 million per QALY), adjusted for severity and rarity. The value used here is an "
    "analysis setting.",
}
# fontTools reports every OpenType table it cannot subset while embedding the Hangul font in a PDF: noise on stderr
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
SUFFIX: dict[Lang, str] = {"ko": "", "en": ".en"}


def render(a: Analysis, langs: tuple[Lang, ...] = LANGS) -> dict[str, bytes]:
    """All output files in memory (nothing touches the disk until every one has been built)."""
    files: dict[str, bytes] = {"results.json": json.dumps(a.to_dict(), ensure_ascii=False, indent=2).encode()}
    for lang in langs:
        fig_lang: Lang = "ko" if figure_lang(lang) == "ko" else "en"
        with plt.rc_context(rc_for(fig_lang)):  # type: ignore[arg-type]
            figs = plots.figures(a, fig_lang)
            pngs = {stem: _save(fig, "png") for stem, fig in figs.items()}
            for stem, fig in figs.items():
                files[f"figures/{stem}{SUFFIX[lang]}.png"] = pngs[stem]
                files[f"figures/{stem}{SUFFIX[lang]}.svg"] = _save(fig, "svg")
            files[f"report{SUFFIX[lang]}.pdf"] = pdf(a, figs, fig_lang)
        files[f"report{SUFFIX[lang]}.html"] = html(a, pngs, lang).encode()
        for fig in figs.values():
            plt.close(fig)
    return files


def write(files: dict[str, bytes], out_dir: Path) -> list[Path]:
    """Write each file atomically (temporary file, then rename)."""
    written = []
    for name, data in files.items():
        target = out_dir / name
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
        written.append(target)
    return written


def _save(fig: Figure, fmt: str) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def describe(d: Distribution | None) -> str:
    """A distribution in words: its family and parameters as given."""
    if d is None or d.type == "fixed":
        return "—"
    given = ", ".join(f"{f} {v:,.6g}" for f, v in d.model_dump().items() if f != "type" and v is not None)
    return f"{d.type.capitalize()}({given})"


def input_rows(a: Analysis, lang: Lang) -> list[list[str]]:
    """Every input: in words, code, base value, unit, distribution, source (flagged where missing)."""
    rows = []
    missing = t("no_source", lang)
    correlated = {k: g for g, c in a.spec.correlated.items() for k in c.parameters}
    for k, p in a.spec.parameters.items():
        value = p.value if isinstance(p.value, str) else f"{float(p.value):,.6g}"
        dist = f"MVN[{correlated[k]}]" if k in correlated else describe(p.distribution)
        rows.append([plots.parameter_name(a, k, lang), k, value, p.unit, dist, p.source or f"⚠ {missing}"])
    for g, grp in a.spec.dirichlet.items():
        total = sum(grp.counts.values())
        for k, n in grp.counts.items():
            rows.append([k, k, f"{n / total:.4f}", "", f"Dirichlet[{g}]({n:g}/{total:g})", grp.source or missing])
    for name, lk in a.spec.lookups.items():
        rows.append([name, name, f"{len(lk.rows or [])} rows", ", ".join(lk.keys), "—", lk.source or missing])
    for g, corr in a.spec.correlated.items():
        size = f"{len(corr.parameters)}×{len(corr.parameters)}"
        rows.append([f"MVN[{g}]", g, size, "", "Cholesky", corr.source or missing])
    return rows


def html(a: Analysis, pngs: dict[str, bytes], lang: Lang = "ko") -> str:
    """Self-contained HTML in `lang` (figures as base64 PNG)."""
    m = a.spec.model
    res = a.to_dict()
    img = {k: f'<img alt="{k}" src="data:image/png;base64,{base64.b64encode(v).decode()}">' for k, v in pngs.items()}
    cost = money_scale([v["cost"] for v in res["strategies"].values()], m.currency, lang)
    icer = money_scale([r.icer for r in a.table] + [res["comparison"]["icer"]], m.currency, lang)
    strat_rows = [
        [
            s,
            v["label"],
            cost(v["cost"]),
            f"{v['qaly']:.4f}",
            f"{v['life_years']:.4f}",
            cost(v["cost_undiscounted"]),
            f"{v['qaly_undiscounted']:.4f}",
        ]
        for s, v in res["strategies"].items()
    ]
    inc_rows = [
        [r.strategy, cost(r.cost), f"{r.effect:.4f}", t(r.status, lang), r.versus or "—", icer(r.icer)] for r in a.table
    ]
    comp = res["comparison"]
    sections = [
        ("objective", escape(m.objective or m.description)),
        ("population", escape(m.population)),
        ("comparators", escape(", ".join(f"{k} ({s.label})" for k, s in a.spec.strategies.items()))),
        ("perspective", escape(m.perspective)),
        ("horizon", f"{m.horizon} {t('cycles', lang)} × {m.cycle_length:g} {t('years', lang)}; {m.counting}"),
        (
            "discount",
            f"{t('costs', lang)} {m.discount_costs:.1%}, {t('effects', lang)} {m.discount_effects:.1%} "
            f"({t('per_year', lang)})",
        ),
        (
            "results",
            _table(
                [
                    t("strategy", lang),
                    t("label", lang),
                    f"{t('cost', lang)} ({cost.unit})",
                    "QALY",
                    t("ly", lang),
                    f"{t('cost', lang)}, {t('undiscounted', lang)}",
                    f"QALY, {t('undiscounted', lang)}",
                ],
                strat_rows,
            )
            + _table(
                [
                    t("strategy", lang),
                    f"{t('cost', lang)} ({cost.unit})",
                    "QALY",
                    t("status", lang),
                    t("versus", lang),
                    f"ICER ({icer.unit}/QALY)",
                ],
                inc_rows,
            )
            + f"<p>ΔC = {cost(comp['incremental_cost'], 2)} {cost.unit}, ΔQALY = {comp['incremental_qaly']:.4f}, "
            f"ICER = {icer(comp['icer'])} {icer.unit}/QALY</p><p class=note>{escape(THRESHOLD_NOTE[lang])}</p>",
        ),
        (
            "sensitivity",
            _scenarios(a, res, lang)
            + img.get("tornado", "")
            + _psa_text(a, res, lang)
            + "".join(img.get(k, "") for k in ("ce_plane", "ceac", "evpi")),
        ),
        ("budget", _budget(a, lang) + img.get("budget_impact", "") if a.budget else "—"),
        ("structure", img.get("model_structure", "") + img.get("markov_trace", "")),
        (
            "inputs",
            _table(
                [
                    t("parameter", lang),
                    t("code", lang),
                    t("value", lang),
                    t("unit", lang),
                    t("distribution", lang),
                    t("source", lang),
                ],
                input_rows(a, lang),
            ),
        ),
    ]
    body = "".join(f"<h2>{t(key, lang)}</h2>{content}" for key, content in sections)
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse;margin:8px 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}img{max-width:100%}.note{color:#555}"
    )
    return (
        f"<!doctype html><html lang={lang}><head><meta charset=utf-8><title>{escape(m.name)}</title>"
        f"<style>{style}</style></head><body><h1>{t('title', lang)}: {escape(m.name)}</h1>"
        f"<p>{t('model_file', lang)}: {escape(a.spec.file)}</p>{body}</body></html>"
    )


def _scenarios(a: Analysis, res: dict[str, Any], lang: Lang) -> str:
    if not res["scenarios"]:
        return ""
    scale = money_scale([r["icer"] for r in res["scenarios"].values()], a.spec.model.currency, lang)
    rows = [
        [name, ", ".join(f"{k} = {v:g}" for k, v in a.spec.scenarios[name].items()), f"{scale(r['icer'])} {scale.unit}"]
        for name, r in res["scenarios"].items()
    ]
    head = ["시나리오" if lang == "ko" else "Scenario", "변경한 입력값" if lang == "ko" else "Inputs changed", "ICER"]
    return _table(head, rows)


def _psa_text(a: Analysis, res: dict[str, object], lang: Lang) -> str:
    psa = res.get("psa")
    if not isinstance(psa, dict):
        return f"<p>{t('psa_none', lang)}</p>"
    scale = money_scale([psa["evpi_at_wtp"], *psa["evppi_at_wtp"].values()], a.spec.model.currency, lang)
    lam = money_scale([a.wtp], a.spec.model.currency, lang)
    probs = ", ".join(f"{s}: {p:.1%}" for s, p in psa["probability_cost_effective_at_wtp"].items())
    text = (
        f"<p>{psa['iterations']:,} {t('iterations', lang)} (seed {psa['seed']}); {t('p_ce', lang)} "
        f"(λ = {lam(a.wtp)} {lam.unit}/QALY): {probs}; "
        f"{t('evpi', lang)}: {scale(psa['evpi_at_wtp'], 2)} {scale.unit}</p>"
    )
    if psa["evppi_at_wtp"]:
        rows = [[g, f"{scale(v, 2)} {scale.unit}"] for g, v in psa["evppi_at_wtp"].items()]
        text += f"<p>{t('evppi', lang)}</p>" + _table([t("parameter", lang), "EVPPI"], rows)
    return text


def _budget(a: Analysis, lang: Lang) -> str:
    scale: MoneyScale = money_scale(
        [v for b in a.budget for v in (b.current_scenario, b.new_scenario, b.impact)], a.spec.model.currency, lang
    )
    rows = [
        [
            str(b.year),
            f"{b.population:,.0f}",
            f"{b.uptake:.0%}",
            scale(b.current_scenario),
            scale(b.new_scenario),
            scale(b.offset),
            scale(b.impact),
        ]
        for b in a.budget
    ]
    head = [t(k, lang) for k in ("year", "eligible", "uptake", "current", "new", "offset", "impact")]
    return _table([*head[:3], *(f"{h} ({scale.unit})" for h in head[3:])], rows)


def pdf(a: Analysis, figs: dict[str, Figure], lang: Lang = "en") -> bytes:
    """A PDF: the summary and the results table, the inputs with their sources, then every figure."""
    m = a.spec.model
    cost = money_scale([r.cost for r in a.table], m.currency, lang)
    icer = money_scale([r.icer for r in a.table], m.currency, lang)
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"CreationDate": None}) as pages:
        page, ax = plt.subplots(figsize=(8.3, 11.7))
        ax.axis("off")
        ax.set_title(f"{t('title', lang)}\n{m.name}", fontsize=11, loc="left")
        head = [
            t("strategy", lang),
            f"{t('cost', lang)} ({cost.unit})",
            "QALY",
            t("status", lang),
            f"ICER ({icer.unit}/QALY)",
        ]
        rows = [[r.strategy, cost(r.cost), f"{r.effect:.4f}", t(r.status, lang), icer(r.icer)] for r in a.table]
        ax.table(cellText=rows, colLabels=head, loc="upper center", cellLoc="left").auto_set_font_size(True)
        lam = money_scale([a.wtp], m.currency, lang)
        notes = [
            f"λ = {lam(a.wtp)} {lam.unit}/QALY",
            f"{m.horizon} {t('cycles', lang)} × {m.cycle_length:g} {t('years', lang)}; {t('discount', lang)[3:]}: "
            f"{m.discount_costs:.1%} / {m.discount_effects:.1%}",
        ]
        ax.text(0, 0.55, "\n".join(notes), va="top", fontsize=9, wrap=True)
        pages.savefig(page)
        plt.close(page)
        rows = input_rows(a, lang)
        for start in range(0, len(rows), 30):
            page, ax = plt.subplots(figsize=(11.7, 8.3))
            ax.axis("off")
            ax.set_title(t("inputs", lang), loc="left")
            chunk = [[c[:60] for c in r] for r in rows[start : start + 30]]
            head = [t(k, lang) for k in ("parameter", "code", "value", "unit", "distribution", "source")]
            table = ax.table(cellText=chunk, colLabels=head, loc="upper center", cellLoc="left")
            table.auto_set_font_size(False)
            table.set_fontsize(6)
            pages.savefig(page)
            plt.close(page)
        for fig in figs.values():
            pages.savefig(fig)
    return buf.getvalue()
