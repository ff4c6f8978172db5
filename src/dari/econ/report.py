"""Reports: bilingual (Korean/English) self-contained HTML laid out as NECA/HIRA submissions expect, PDF, JSON."""

from __future__ import annotations

import base64
import io
import json
from html import escape
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from dari.atomic import atomic_path
from dari.econ import plots
from dari.econ.analysis import Analysis

THRESHOLD_NOTE = (
    "한국에는 공식 ICER 임계값이 없습니다. 심평원(HIRA) 약제 경제성평가에서는 1인당 GDP(약 2,000만–5,000만 원/QALY) "
    "수준이 탄력적으로 참고되며, 질병 중증도·희귀성 등에 따라 달리 적용됩니다. / Korea has no official "
    "cost-per-QALY threshold; HIRA's appraisals refer flexibly to about one GDP per capita (commonly cited "
    "KRW 20–50 million per QALY), adjusted for severity and rarity. The value used here is an analysis setting."
)


def render(a: Analysis) -> dict[str, bytes]:
    """All output files in memory (nothing touches the disk until every one has been built)."""
    figs = plots.figures(a)
    files: dict[str, bytes] = {}
    pngs: dict[str, bytes] = {}
    for stem, fig in figs.items():
        pngs[stem] = _save(fig, "png")
        files[f"figures/{stem}.png"] = pngs[stem]
        files[f"figures/{stem}.svg"] = _save(fig, "svg")
    files["results.json"] = json.dumps(a.to_dict(), ensure_ascii=False, indent=2).encode()
    files["report.html"] = html(a, pngs).encode()
    files["report.pdf"] = pdf(a, figs)
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


def _money(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def inputs_table(a: Analysis) -> str:
    """Every input with its value, distribution and source."""
    rows = []
    for k, p in a.spec.parameters.items():
        d = p.distribution
        dist = (
            "—"
            if d is None
            else d.type
            + "("
            + ", ".join(f"{f}={v:g}" for f, v in d.model_dump().items() if f != "type" and v is not None)
            + ")"
        )
        rows.append([k, str(p.value), p.unit, dist, p.source])
    for g, grp in a.spec.dirichlet.items():
        total = sum(grp.counts.values())
        for k, c in grp.counts.items():
            rows.append([k, f"{c / total:.4f}", "probability", f"Dirichlet[{g}]({c:g} of {total:g})", grp.source])
    return _table(["Parameter 모수", "Value 값", "Unit 단위", "Distribution 분포", "Source 출처"], rows)


def html(a: Analysis, pngs: dict[str, bytes]) -> str:
    """Self-contained HTML (figures as base64 PNG)."""
    m = a.spec.model
    cur = m.currency
    res = a.to_dict()
    img = {k: f'<img alt="{k}" src="data:image/png;base64,{base64.b64encode(v).decode()}">' for k, v in pngs.items()}
    strat_rows = [
        [
            s,
            v["label"],
            _money(v["cost"]),
            f"{v['qaly']:.4f}",
            f"{v['life_years']:.4f}",
            _money(v["cost_undiscounted"]),
            f"{v['qaly_undiscounted']:.4f}",
            f"{v['life_years_undiscounted']:.4f}",
        ]
        for s, v in res["strategies"].items()
    ]
    inc_rows = [
        [r.strategy, _money(r.cost), f"{r.effect:.4f}", r.status, r.versus or "—", _money(r.icer)] for r in a.table
    ]
    comp = res["comparison"]
    bia_rows = [
        [
            str(b.year),
            f"{b.population:,.0f}",
            f"{b.uptake:.0%}",
            _money(b.current_scenario),
            _money(b.new_scenario),
            _money(b.offset),
            _money(b.impact),
        ]
        for b in a.budget
    ]
    psa = res.get("psa")
    psa_text = (
        "PSA not run / 확률적 민감도 분석 미실시"
        if psa is None
        else (
            f"{psa['iterations']:,} iterations (seed {psa['seed']}); P(cost-effective at λ) = "
            + ", ".join(f"{s}: {p:.1%}" for s, p in psa["probability_cost_effective_at_wtp"].items())
            + f"; EVPI per person at λ = {_money(psa['evpi_at_wtp'])} {cur}"
        )
    )
    sections = [
        ("1. 목적 / Objective", escape(m.objective or m.description)),
        ("2. 대상 인구 / Target population", escape(m.population)),
        (
            "3. 비교 대상 / Comparators",
            escape(", ".join(f"{k} ({s.label})" for k, s in a.spec.strategies.items()))
            + f"; intervention {escape(a.intervention)} vs comparator {escape(a.comparator)}",
        ),
        ("4. 분석 관점 / Perspective", escape(m.perspective)),
        ("5. 시간 범위 / Time horizon", f"{m.horizon} cycles × {m.cycle_length:g} year(s); counting: {m.counting}"),
        ("6. 할인율 / Discount rates", f"costs {m.discount_costs:.1%}, effects {m.discount_effects:.1%} per year"),
        (
            "7. 결과 / Results",
            _table(
                ["Strategy", "Label", f"Cost ({cur})", "QALY", "LY", "Cost undisc.", "QALY undisc.", "LY undisc."],
                strat_rows,
            )
            + _table(["Strategy", "Cost", "QALY", "Status 지배 여부", "vs", f"ICER ({cur}/QALY)"], inc_rows)
            + f"<p>ΔC = {_money(comp['incremental_cost'])} {cur}, ΔQALY = {comp['incremental_qaly']:.4f}, "
            f"ICER = {_money(comp['icer'])} {cur}/QALY, INMB at λ = {a.wtp:,.0f}: {_money(comp['inmb'])} {cur}</p>"
            + f"<p class=note>{escape(THRESHOLD_NOTE)}</p>",
        ),
        (
            "8. 민감도 분석 / Sensitivity analysis",
            img.get("tornado", "")
            + f"<p>{escape(psa_text)}</p>"
            + img.get("ce_plane", "")
            + img.get("ceac", "")
            + img.get("evpi", ""),
        ),
        (
            "9. 예산 영향 / Budget impact",
            _table(["Year", "Eligible", "Uptake", "Current", "New", "Offset", "Impact"], bia_rows)
            + img.get("budget_impact", "")
            if a.budget
            else "—",
        ),
        ("10. 모형 구조 / Model structure", img.get("model_structure", "") + img.get("markov_trace", "")),
        ("11. 입력값 / Inputs", inputs_table(a)),
    ]
    body = "".join(f"<h2>{t}</h2>{c}" for t, c in sections)
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse;margin:8px 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}img{max-width:100%}.note{color:#555}"
    )
    return (
        f"<!doctype html><html lang=ko><head><meta charset=utf-8><title>{escape(m.name)}</title>"
        f"<style>{style}</style></head><body><h1>경제성 평가 보고서 / Economic evaluation: {escape(m.name)}</h1>"
        f"<p>Source model: {escape(a.spec.file)}</p>{body}</body></html>"
    )


def pdf(a: Analysis, figs: dict[str, Figure]) -> bytes:
    """A PDF: a summary-table page, then every figure."""
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"CreationDate": None}) as pages:
        page, ax = plt.subplots(figsize=(8.3, 11.7))
        ax.axis("off")
        lines = [a.spec.model.name, f"WTP {a.wtp:,.0f} {a.spec.model.currency}/QALY", ""]
        for r in a.table:
            lines.append(
                f"{r.strategy:<14} cost {r.cost:>16,.0f}  QALY {r.effect:8.4f}  {r.status:<22} ICER {_money(r.icer)}"
            )
        for b in a.budget:
            lines.append(f"year {b.year}: budget impact {_money(b.impact)}")
        ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=8)
        pages.savefig(page)
        plt.close(page)
        for fig in figs.values():
            pages.savefig(fig)
    return buf.getvalue()
