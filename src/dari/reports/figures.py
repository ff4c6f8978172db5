"""The report's figures (matplotlib, Agg): ROC and calibration curves by site, decision curves, forest plots."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # headless: reports are built on servers without a display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from dari.federation.flower.jobs import ValidationRun
from dari.reports.fonts import figure_lang, rc_for
from dari.reports.site_curves import calibration_points, decision_points, roc_points
from dari.validation import Estimate, MetaAnalysis

_W: dict[str, tuple[str, str]] = {
    "fpr": ("1 − 특이도 (위양성률)", "1 − specificity (false-positive rate)"),
    "tpr": ("민감도 (진양성률)", "Sensitivity (true-positive rate)"),
    "pred": ("예측 위험", "Predicted risk"),
    "obs": ("관찰 사건 비율", "Observed event rate"),
    "ideal": ("완벽한 보정", "Perfect calibration"),
    "pooled": ("통합", "Pooled"),
    "thr": ("임계 확률", "Threshold probability"),
    "nb": ("순이익", "Net benefit"),
    "all": ("전원 치료", "Treat all"),
    "none": ("치료 안 함", "Treat none"),
    "summary": ("무작위효과 통합", "Random effects"),
    "no_points": ("곡선 점이 없음: 숲 그림 참조", "No curve points in the results: see the forest plot"),
    "slope": ("보정 기울기", "Calibration slope"),
}


def _w(key: str, lang: str) -> str:
    ko, en = _W[key]
    return ko if lang == "ko" else en


def _sites_with_stats(run: ValidationRun) -> list[str]:
    return [s for s in run.covered if run.sites[s].statistics is not None]


def roc(run: ValidationRun, lang: str) -> Figure:
    """ROC curve of each site from its protected histogram; a note when no site released one."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for s in _sites_with_stats(run):
        st, m = run.sites[s].statistics, run.sites[s].metrics
        assert st is not None and m is not None
        pts = roc_points(st)
        ax.plot(pts.fpr, pts.tpr, lw=1.4, label=f"{s} (AUROC {m.auroc.estimate:.3f})")
    if not _sites_with_stats(run):
        ax.text(0.5, 0.5, _w("no_points", lang), ha="center", va="center")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8)
    ax.set(xlabel=_w("fpr", lang), ylabel=_w("tpr", lang), xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def calibration(run: ValidationRun, lang: str) -> Figure:
    """Observed vs mean predicted risk per calibration bin, for each site and pooled."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    curves = [(s, calibration_points(st)) for s in run.covered if (st := run.sites[s].statistics) is not None]
    if run.pooled is not None:
        curves.append((_w("pooled", lang), run.pooled.calibration_curve))
    for i, (name, c) in enumerate(curves):
        pts = [(b.mean_predicted, b.observed) for b in c.bins if b.n and math.isfinite(b.mean_predicted)]
        if not pts:
            continue
        x, y = zip(*pts, strict=True)
        pooled = run.pooled is not None and i == len(curves) - 1
        ax.plot(
            x,
            y,
            "o-" if not pooled else "D-",
            ms=4,
            lw=2.2 if pooled else 1.2,
            color="k" if pooled else None,
            label=f"{name} (ECE {c.ece:.3f})",
        )
        top = max(top, *x, *y)
    lim = min(1.0, max(0.1, top * 1.1))
    ax.plot([0, lim], [0, lim], color="grey", ls=":", lw=0.8, label=_w("ideal", lang))
    ax.set(xlabel=_w("pred", lang), ylabel=_w("obs", lang), xlim=(0, lim), ylim=(0, lim), aspect="equal")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def decision(run: ValidationRun, lang: str) -> Figure:
    """Net benefit of the model per site and pooled, with the pooled treat-all and treat-none references."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    if run.pooled is None:
        ax.text(0.5, 0.5, "—", ha="center")
        return fig
    dc = run.pooled.decision_curve
    t = np.asarray(dc.thresholds)
    for s in _sites_with_stats(run):
        st = run.sites[s].statistics
        assert st is not None
        ax.plot(t, decision_points(st, dc.thresholds).net_benefit, lw=1.0, label=s)
    ax.plot(t, dc.net_benefit, color="k", lw=2.2, label=_w("pooled", lang))
    ax.plot(t, dc.treat_all, color="grey", ls="--", lw=1.2, label=_w("all", lang))
    ax.plot(t, dc.treat_none, color="grey", ls=":", lw=1.2, label=_w("none", lang))
    prevalence = run.pooled.events / run.pooled.n if run.pooled.n else 0.5
    ax.set(
        xlabel=_w("thr", lang),
        ylabel=_w("nb", lang),
        xlim=(0, min(1.0, max(0.3, 2.5 * prevalence))),
        ylim=(-0.05, max(0.05, prevalence * 1.1)),
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def forest(
    estimates: dict[str, Estimate], meta: MetaAnalysis | None, label: str, reference: float, lang: str
) -> Figure:
    """Site estimates with CIs, the random-effects diamond and its prediction interval."""
    names = list(estimates)
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * (len(names) + 2) + 1.2))
    for y, s in enumerate(reversed(names), start=2):
        e = estimates[s]
        ax.errorbar(
            e.estimate, y, xerr=[[e.estimate - e.ci_low], [e.ci_high - e.estimate]], fmt="s", color="k", ms=5, capsize=3
        )
    ticks = list(reversed(names))
    if meta is not None and meta.k and math.isfinite(meta.estimate):
        ax.fill([meta.ci_low, meta.estimate, meta.ci_high, meta.estimate], [1, 1.25, 1, 0.75], color="tab:blue")
        if math.isfinite(meta.pi_low):
            ax.plot([meta.pi_low, meta.pi_high], [0.6, 0.6], color="tab:blue", lw=1.5)
        ticks = [f"{_w('summary', lang)} (I² {100 * meta.i2:.0f}%)", *ticks]
    else:
        ticks = ["", *ticks]
    ax.axvline(reference, color="grey", ls=":", lw=0.8)
    ax.set_yticks(range(1, len(ticks) + 1), ticks)
    ax.set(xlabel=label, ylim=(0.3, len(ticks) + 0.7))
    fig.tight_layout()
    return fig


def all_figures(run: ValidationRun, lang: str) -> dict[str, Figure]:
    """Every figure of the report, by key; labels in `lang` when a Hangul font allows."""
    fl = figure_lang(lang)
    ok = {s: m for s in run.covered if (m := run.sites[s].metrics) is not None}
    with plt.rc_context(rc_for(fl)):  # type: ignore[arg-type]
        return {
            "roc": roc(run, fl),
            "calibration": calibration(run, fl),
            "decision": decision(run, fl),
            "forest_auroc": forest(
                {s: m.auroc for s, m in ok.items()}, run.meta_analysis.get("auroc"), "AUROC", 0.5, fl
            ),
            "forest_slope": forest(
                {s: m.calibration.slope for s, m in ok.items()},
                run.meta_analysis.get("calibration_slope"),
                _w("slope", fl),
                1.0,
                fl,
            ),
        }


def to_svg(fig: Figure) -> bytes:
    """The figure as SVG, with no timestamp (the same run gives the same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
