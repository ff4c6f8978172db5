"""Figures (matplotlib, Agg): CE plane, CEAC + frontier, EVPI, tornado, state-transition diagram, trace, budget."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # headless: reports are built on servers without a display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dari.econ.analysis import Analysis
from dari.econ.words import Lang, MoneyScale, money_scale, t


def figures(a: Analysis, lang: Lang = "en") -> dict[str, Figure]:
    """Every figure the analysis supports, by file stem, labelled in `lang` (draw Korean only with a Hangul font)."""
    out: dict[str, Figure] = {}
    if a.spec.markov is not None:
        out["model_structure"] = state_diagram(a)
        out["markov_trace"] = trace(a, lang)
    if a.one_way:
        out["tornado"] = tornado(a, lang)
    if a.psa is not None:
        out["ce_plane"] = ce_plane(a, lang)
        out["ceac"] = ceac(a, lang)
        out["evpi"] = evpi(a, lang)
    if a.budget:
        out["budget_impact"] = budget(a, lang)
    return out


def parameter_name(a: Analysis, code: str, lang: Lang) -> str:
    """A parameter in words: its Korean or English label, else the other, else its code."""
    p = a.spec.parameters.get(code)
    if p is None:
        return code
    first, second = (p.label_ko, p.label) if lang == "ko" else (p.label, p.label_ko)
    return first or second or code


def _money_axis(ax: Axes, axis: str, values: np.ndarray, a: Analysis, lang: Lang, per: str = "") -> str:
    """Tick labels in the scale that suits the values (만원/억원 for KRW in Korean); returns the unit for the label."""
    scale: MoneyScale = money_scale(np.asarray(values, dtype=float).ravel().tolist(), a.spec.model.currency, lang)
    fmt = FuncFormatter(lambda v, _pos: f"{v / scale.divisor:,.{0 if scale.divisor == 1 else 1}f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)
    return scale.unit + per


def ce_plane(a: Analysis, lang: Lang = "en") -> Figure:
    """Incremental cost vs incremental QALY per PSA iteration, with the λ line."""
    assert a.psa is not None
    p = a.psa
    i, j = p.strategies.index(a.intervention), p.strategies.index(a.comparator)
    d_q, d_c = p.qalys[i] - p.qalys[j], p.costs[i] - p.costs[j]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(d_q, d_c, s=4, alpha=0.3)
    ax.scatter([d_q.mean()], [d_c.mean()], color="red", label=t("mean", lang))
    xs = np.linspace(min(d_q.min(), 0), max(d_q.max(), 0), 2)
    lam = money_scale([a.wtp], a.spec.model.currency, lang)
    ax.plot(xs, a.wtp * xs, "k--", label=f"λ = {lam(a.wtp)} {lam.unit}{t('per_qaly', lang)}")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    unit = _money_axis(ax, "y", d_c, a, lang)
    ax.set(
        xlabel=t("inc_qaly", lang),
        ylabel=f"{t('inc_cost', lang)} ({unit})",
        title=f"{t('ce_plane', lang)}: {a.intervention} vs {a.comparator}",
    )
    ax.legend()
    fig.tight_layout()
    return fig


def ceac(a: Analysis, lang: Lang = "en") -> Figure:
    """Cost-effectiveness acceptability curves with the acceptability frontier."""
    assert a.psa is not None
    p = a.psa
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for k, s in enumerate(p.strategies):
        ax.plot(p.wtp_grid, p.ceac[k], label=s)
    front = [p.ceac[p.strategies.index(s), g] for g, s in enumerate(p.frontier)]
    ax.plot(p.wtp_grid, front, "k:", lw=3, alpha=0.5, label=f"{t('frontier', lang)} (CEAF)")
    ax.axvline(a.wtp, color="grey", ls="--")
    unit = _money_axis(ax, "x", p.wtp_grid, a, lang, t("per_qaly", lang))
    ax.set(xlabel=f"{t('wtp', lang)} ({unit})", ylabel=t("p_ce", lang), ylim=(0, 1.02), title=t("ceac", lang))
    ax.legend()
    fig.tight_layout()
    return fig


def evpi(a: Analysis, lang: Lang = "en") -> Figure:
    """Per-person EVPI against willingness to pay."""
    assert a.psa is not None
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(a.psa.wtp_grid, a.psa.evpi)
    ax.axvline(a.wtp, color="grey", ls="--")
    x_unit = _money_axis(ax, "x", a.psa.wtp_grid, a, lang, t("per_qaly", lang))
    y_unit = _money_axis(ax, "y", a.psa.evpi, a, lang)
    ax.set(xlabel=f"{t('wtp', lang)} ({x_unit})", ylabel=f"{t('evpi', lang)} ({y_unit})", title="EVPI")
    fig.tight_layout()
    return fig


def tornado(a: Analysis, lang: Lang = "en", top: int = 12) -> Figure:
    """Tornado: incremental NMB at each parameter's low and high bound around the base case."""
    rows = a.one_way[:top][::-1]
    base = a.pairwise()["inmb"] or 0.0
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.5))
    for y, r in enumerate(rows):
        ax.barh(y, r.inmb_low - base, left=base, color="tab:blue", label=t("low", lang) if y == 0 else None)
        ax.barh(y, r.inmb_high - base, left=base, color="tab:orange", label=t("high", lang) if y == 0 else None)
    ax.set_yticks(range(len(rows)), [parameter_name(a, r.parameter, lang) for r in rows])
    ax.axvline(base, color="k", lw=0.8)
    spread = [v for r in rows for v in (r.inmb_low, r.inmb_high)] or [base]
    unit = _money_axis(ax, "x", np.array(spread), a, lang)
    ax.set(xlabel=f"{t('inmb', lang)} (λ, {unit})", title=t("tornado", lang))
    ax.legend()
    fig.tight_layout()
    return fig


def state_diagram(a: Analysis) -> Figure:
    """States on a circle, arrows for every non-zero base-case transition of the comparator."""
    assert a.spec.markov is not None
    states = a.spec.markov.states
    n = len(states)
    pos = {
        s: (math.cos(2 * math.pi * i / n + math.pi / 2), math.sin(2 * math.pi * i / n + math.pi / 2))
        for i, s in enumerate(states)
    }
    fig, ax = plt.subplots(figsize=(5, 5))
    from dari.econ.engine import _Context, _matrices  # the base-case matrix, as the engine builds it
    from dari.econ.params import base_values

    ctx = _Context(a.spec, base_values(a.spec), "diagram")
    mat = _matrices(ctx, a.comparator, a.spec.strategies[a.comparator])[0, :, :, 0]
    for i, s in enumerate(states):
        for j, dst in enumerate(states):
            if i != j and mat[i, j] > 0:
                ax.annotate(
                    "",
                    xy=pos[dst],
                    xytext=pos[s],
                    arrowprops={"arrowstyle": "->", "shrinkA": 18, "shrinkB": 18, "connectionstyle": "arc3,rad=0.15"},
                )
                mx, my = (pos[s][0] + pos[dst][0]) / 2, (pos[s][1] + pos[dst][1]) / 2
                ax.text(mx, my, f"{mat[i, j]:.3f}", fontsize=7, ha="center")
    for s, (x, y) in pos.items():
        dead = s in a.spec.markov.dead
        ax.text(
            x,
            y,
            s,
            ha="center",
            va="center",
            fontsize=10,
            bbox={"boxstyle": "round", "fc": "lightgrey" if dead else "lightblue"},
        )
    ax.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), title=f"State-transition diagram ({a.comparator})")
    ax.axis("off")
    fig.tight_layout()
    return fig


def trace(a: Analysis, lang: Lang = "en") -> Figure:
    """Cohort trace (state membership by cycle) for each strategy."""
    assert a.spec.markov is not None
    fig, axes = plt.subplots(1, len(a.base), figsize=(4 * len(a.base), 3.5), squeeze=False, sharey=True)
    for ax, (s, r) in zip(axes[0], a.base.items(), strict=True):
        assert r.trace is not None
        for k, state in enumerate(a.spec.markov.states):
            ax.plot(r.trace[:, 0, k], label=state)
        ax.set(title=s, xlabel=t("cycle", lang))
    axes[0][0].set_ylabel(t("share", lang))
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def budget(a: Analysis, lang: Lang = "en") -> Figure:
    """Yearly budget impact (new − current scenario)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    impacts = np.array([b.impact for b in a.budget])
    ax.bar([b.year for b in a.budget], impacts)
    unit = _money_axis(ax, "y", impacts, a, lang)
    ax.set(xlabel=t("year", lang), ylabel=f"{t('impact', lang)} ({unit})", title=t("budget", lang)[3:])
    fig.tight_layout()
    return fig
