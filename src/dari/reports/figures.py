"""The report's figures (matplotlib, Agg): ROC and calibration curves by site, decision curves, forest plots."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # headless: reports are built on servers without a display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from dari.reports.fonts import figure_lang, rc_for
from dari.reports.formatting import num
from dari.reports.numbers import Curve, ReportNumbers
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


def roc(nums: ReportNumbers, lang: str) -> Figure:
    """ROC curve of each site from its protected histogram, labelled with the site's AUROC (the table's value)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    drawn = 0
    for s, sn in nums.sites.items():
        if sn.roc is None:
            continue
        (line,) = ax.plot(sn.roc.fpr, sn.roc.tpr, lw=1.4, label=f"{s} (AUROC {num(sn.auroc.estimate)})")
        line.set_gid(f"roc:{s}")
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, _w("no_points", lang), ha="center", va="center")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8)
    ax.set(xlabel=_w("fpr", lang), ylabel=_w("tpr", lang), xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def calibration(nums: ReportNumbers, lang: str) -> Figure:
    """Observed vs mean predicted risk per calibration bin, for each site and pooled; each labelled with the ECE
    the tables show (a site's: computed at the site over its rows)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    curves: list[tuple[str, str, Curve | None, float, bool]] = [
        (f"cal:{s}", s, sn.calibration, sn.ece, False) for s, sn in nums.sites.items()
    ]
    if nums.pooled is not None:
        curves.append(("cal:pooled", _w("pooled", lang), nums.pooled.calibration, nums.pooled.ece, True))
    for gid, name, c, ece, pooled in curves:
        if c is None or not c.x:
            continue
        (line,) = ax.plot(
            c.x,
            c.y,
            "D-" if pooled else "o-",
            ms=4,
            lw=2.2 if pooled else 1.2,
            color="k" if pooled else None,
            label=f"{name} (ECE {num(ece)})",
        )
        line.set_gid(gid)
        top = max(top, *c.x, *c.y)
    lim = min(1.0, max(0.1, top * 1.1))
    ax.plot([0, lim], [0, lim], color="grey", ls=":", lw=0.8, label=_w("ideal", lang))
    ax.set(xlabel=_w("pred", lang), ylabel=_w("obs", lang), xlim=(0, lim), ylim=(0, lim), aspect="equal")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def decision(nums: ReportNumbers, lang: str) -> Figure:
    """Net benefit of the model per site and pooled, with the pooled treat-all and treat-none references."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    p = nums.pooled
    if p is None:
        ax.text(0.5, 0.5, "—", ha="center")
        fig.tight_layout()
        return fig
    t = np.asarray(p.decision_thresholds)
    for s, sn in nums.sites.items():
        if sn.net_benefit is not None:
            (line,) = ax.plot(t, sn.net_benefit, lw=1.0, label=s)
            line.set_gid(f"nb:{s}")
    (line,) = ax.plot(t, p.net_benefit, color="k", lw=2.2, label=_w("pooled", lang))
    line.set_gid("nb:pooled")
    ax.plot(t, p.treat_all, color="grey", ls="--", lw=1.2, label=_w("all", lang))
    ax.plot(t, p.treat_none, color="grey", ls=":", lw=1.2, label=_w("none", lang))
    prevalence = p.events / p.n if p.n else 0.5
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
    estimates: dict[str, Estimate], meta: MetaAnalysis | None, label: str, reference: float, lang: str, key: str
) -> Figure:
    """Site estimates with CIs, the random-effects diamond and its prediction interval."""
    names = list(estimates)
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * (len(names) + 2) + 1.2))
    for y, s in enumerate(reversed(names), start=2):
        e = estimates[s]
        bars = ax.errorbar(
            e.estimate, y, xerr=[[e.estimate - e.ci_low], [e.ci_high - e.estimate]], fmt="s", color="k", ms=5, capsize=3
        )
        bars.lines[0].set_gid(f"{key}:{s}")
    ticks = list(reversed(names))
    if meta is not None and meta.k and math.isfinite(meta.estimate):
        diamond = ax.fill(
            [meta.ci_low, meta.estimate, meta.ci_high, meta.estimate], [1, 1.25, 1, 0.75], color="tab:blue"
        )
        diamond[0].set_gid(f"{key}:summary")
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


def all_figures(nums: ReportNumbers, lang: str) -> dict[str, Figure]:
    """Every figure of the report, by key; labels in `lang` when a Hangul font allows."""
    fl = figure_lang(lang)
    with plt.rc_context(rc_for(fl)):  # type: ignore[arg-type]
        return {
            "roc": roc(nums, fl),
            "calibration": calibration(nums, fl),
            "decision": decision(nums, fl),
            "forest_auroc": forest(
                {s: sn.auroc for s, sn in nums.sites.items()}, nums.meta.get("auroc"), "AUROC", 0.5, fl, "auroc"
            ),
            "forest_slope": forest(
                {s: sn.slope for s, sn in nums.sites.items()},
                nums.meta.get("calibration_slope"),
                _w("slope", fl),
                1.0,
                fl,
                "slope",
            ),
        }


def to_svg(fig: Figure) -> bytes:
    """The figure as SVG, with no timestamp (the same run gives the same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
