"""Figures (matplotlib, Agg): CE plane, CEAC + frontier, EVPI, tornado, state-transition diagram, trace, budget."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # headless: reports are built on servers without a display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from dari.econ.analysis import Analysis


def figures(a: Analysis) -> dict[str, Figure]:
    """Every figure the analysis supports, by file stem."""
    out: dict[str, Figure] = {}
    if a.spec.markov is not None:
        out["model_structure"] = state_diagram(a)
        out["markov_trace"] = trace(a)
    if a.one_way:
        out["tornado"] = tornado(a)
    if a.psa is not None:
        out["ce_plane"] = ce_plane(a)
        out["ceac"] = ceac(a)
        out["evpi"] = evpi(a)
    if a.budget:
        out["budget_impact"] = budget(a)
    return out


def ce_plane(a: Analysis) -> Figure:
    """Incremental cost vs incremental QALY per PSA iteration, with the λ line."""
    assert a.psa is not None
    p = a.psa
    i, j = p.strategies.index(a.intervention), p.strategies.index(a.comparator)
    d_q, d_c = p.qalys[i] - p.qalys[j], p.costs[i] - p.costs[j]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(d_q, d_c, s=4, alpha=0.3)
    ax.scatter([d_q.mean()], [d_c.mean()], color="red", label="mean")
    xs = np.linspace(min(d_q.min(), 0), max(d_q.max(), 0), 2)
    ax.plot(xs, a.wtp * xs, "k--", label=f"λ = {a.wtp:,.0f}")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set(
        xlabel="Incremental QALYs",
        ylabel=f"Incremental cost ({a.spec.model.currency})",
        title=f"Cost-effectiveness plane: {a.intervention} vs {a.comparator}",
    )
    ax.legend()
    fig.tight_layout()
    return fig


def ceac(a: Analysis) -> Figure:
    """Cost-effectiveness acceptability curves with the acceptability frontier."""
    assert a.psa is not None
    p = a.psa
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for k, s in enumerate(p.strategies):
        ax.plot(p.wtp_grid, p.ceac[k], label=s)
    front = [p.ceac[p.strategies.index(s), g] for g, s in enumerate(p.frontier)]
    ax.plot(p.wtp_grid, front, "k:", lw=3, alpha=0.5, label="frontier (CEAF)")
    ax.axvline(a.wtp, color="grey", ls="--")
    ax.set(
        xlabel=f"Willingness to pay ({a.spec.model.currency}/QALY)",
        ylabel="P(cost-effective)",
        ylim=(0, 1.02),
        title="Acceptability curves",
    )
    ax.legend()
    fig.tight_layout()
    return fig


def evpi(a: Analysis) -> Figure:
    """Per-person EVPI against willingness to pay."""
    assert a.psa is not None
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(a.psa.wtp_grid, a.psa.evpi)
    ax.axvline(a.wtp, color="grey", ls="--")
    ax.set(
        xlabel=f"Willingness to pay ({a.spec.model.currency}/QALY)",
        ylabel=f"EVPI per person ({a.spec.model.currency})",
        title="Expected value of perfect information",
    )
    fig.tight_layout()
    return fig


def tornado(a: Analysis, top: int = 12) -> Figure:
    """Tornado: incremental NMB at each parameter's low and high bound around the base case."""
    rows = a.one_way[:top][::-1]
    base = a.pairwise()["inmb"] or 0.0
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.5))
    for y, r in enumerate(rows):
        ax.barh(y, r.inmb_low - base, left=base, color="tab:blue", label="low" if y == 0 else None)
        ax.barh(y, r.inmb_high - base, left=base, color="tab:orange", label="high" if y == 0 else None)
    ax.set_yticks(range(len(rows)), [r.parameter for r in rows])
    ax.axvline(base, color="k", lw=0.8)
    ax.set(xlabel=f"Incremental NMB at λ = {a.wtp:,.0f} ({a.spec.model.currency})", title="One-way sensitivity")
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
        for j, t in enumerate(states):
            if i != j and mat[i, j] > 0:
                ax.annotate(
                    "",
                    xy=pos[t],
                    xytext=pos[s],
                    arrowprops={"arrowstyle": "->", "shrinkA": 18, "shrinkB": 18, "connectionstyle": "arc3,rad=0.15"},
                )
                mx, my = (pos[s][0] + pos[t][0]) / 2, (pos[s][1] + pos[t][1]) / 2
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


def trace(a: Analysis) -> Figure:
    """Cohort trace (state membership by cycle) for each strategy."""
    assert a.spec.markov is not None
    fig, axes = plt.subplots(1, len(a.base), figsize=(4 * len(a.base), 3.5), squeeze=False, sharey=True)
    for ax, (s, r) in zip(axes[0], a.base.items(), strict=True):
        assert r.trace is not None
        for k, state in enumerate(a.spec.markov.states):
            ax.plot(r.trace[:, 0, k], label=state)
        ax.set(title=s, xlabel="cycle")
    axes[0][0].set_ylabel("share of cohort")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def budget(a: Analysis) -> Figure:
    """Yearly budget impact (new − current scenario)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([b.year for b in a.budget], [b.impact for b in a.budget])
    ax.set(xlabel="Year", ylabel=f"Budget impact ({a.spec.model.currency})", title="Budget impact")
    fig.tight_layout()
    return fig
