"""Plots of a deployed model's monitoring over time: server-rendered SVG inlined in the page (no external assets).

matplotlib's object API with the Agg/SVG backends, never pyplot (its global figure registry is not meant for a
threaded server); rendering is serialised by a lock because matplotlib's text and font caches are process-wide.
Figures carry no text from the payload, only numbers and fixed labels. Korean labels need a Hangul font
(`dari.reports.fonts`); without one the figures are labelled in English and the page around them stays Korean.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import math
import threading
from collections.abc import Sequence

import matplotlib
import numpy as np
import numpy.typing as npt

matplotlib.use("Agg")  # headless: the hub runs on servers without a display
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from dari.monitoring.publication import MonitoringPolicy, MonitoringWindow
from dari.reports.fonts import figure_lang, hangul_font

FloatArray = npt.NDArray[np.float64]
SCORE = "score"  # the drift entry of the model's output; every other entry is an input
_LOCK = threading.Lock()
_CACHE: dict[str, dict[str, str]] = {}
_CACHE_SIZE = 64
_NAN = math.nan
_W: dict[str, tuple[str, str]] = {
    "score_psi": ("점수 PSI", "Score PSI"),
    "max_input_psi": ("입력 PSI 최댓값", "Max input PSI"),
    "psi_threshold": ("경보 기준", "Alert threshold"),
    "live_auroc": ("실사용 AUROC (95% CI)", "Live AUROC (95% CI)"),
    "validated_auroc": ("검증 AUROC", "Validated AUROC"),
    "auroc_alert": ("경보 기준", "Alert threshold"),
    "oe_ratio": ("관찰/기대 사건 비", "Observed / expected"),
    "oe_bounds": ("경보 범위", "Alert bounds"),
    "calls": ("호출 수", "Calls"),
    "latency_p95": ("지연 p95 (ms)", "Latency p95 (ms)"),
}


def _w(key: str, lang: str) -> str:
    ko, en = _W[key]
    return ko if lang == "ko" else en


def _value(x: float | None) -> float:
    return _NAN if x is None else float(x)


def _days(windows: Sequence[MonitoringWindow]) -> FloatArray:
    """Window starts as matplotlib's date numbers (days), UTC."""
    return np.asarray(mdates.date2num([w.start for w in windows]), dtype=np.float64)  # type: ignore[no-untyped-call]


def _new_axes() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(7.2, 2.6))
    # Fixed margins rather than tight_layout, which measures every tick label again and doubles the render time.
    fig.subplots_adjust(left=0.08, right=0.92, bottom=0.2, top=0.95)
    ax = fig.subplots()
    ax.grid(True, color="#e5e9ee", lw=0.6)
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    return fig, ax


def _font(lang: str) -> FontProperties | None:
    family = hangul_font() if lang == "ko" else None
    return FontProperties(family=[family, "DejaVu Sans"]) if family else None


def _legend(ax: Axes, lang: str, extra: Axes | None = None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if extra is not None:  # a twin axis: one legend for both
        more = extra.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    font = _font(lang) or FontProperties()
    font.set_size(7)
    ax.legend(handles, labels, loc="best", prop=font, framealpha=0.85)


def _svg(fig: Figure, label: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :]  # inline: no XML declaration or DOCTYPE inside HTML
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label)}" class="plot" ', 1)


def drift_plot(windows: Sequence[MonitoringWindow], policy: MonitoringPolicy, lang: str) -> Figure:
    """Score PSI and the largest input PSI per window, with the PSI alert threshold."""
    fig, ax = _new_axes()
    x = _days(windows)
    score = [next((_value(d.psi) for d in w.drift if d.name == SCORE), _NAN) for w in windows]
    inputs = [max((d.psi for d in w.drift if d.name != SCORE and d.psi is not None), default=_NAN) for w in windows]
    ax.plot(x, score, marker="o", ms=3, lw=1.4, color="#0b4f6c", label=_w("score_psi", lang))
    ax.plot(x, inputs, marker="s", ms=3, lw=1.2, color="#2a9d8f", label=_w("max_input_psi", lang))
    ax.axhline(policy.drift.psi, color="#b42318", ls="--", lw=1, label=_w("psi_threshold", lang))
    ax.set_ylim(bottom=0)
    _legend(ax, lang)
    return fig


def discrimination_plot(windows: Sequence[MonitoringWindow], policy: MonitoringPolicy, lang: str) -> Figure:
    """Live AUROC with its confidence interval against the validated AUROC and the alert threshold below it."""
    fig, ax = _new_axes()
    x = _days(windows)
    perf = [w.performance for w in windows]
    auroc = [_value(p.auroc) if p else _NAN for p in perf]
    lower = [
        a - p.auroc_ci[0] if p and p.auroc_ci and not math.isnan(a) else 0.0 for a, p in zip(auroc, perf, strict=True)
    ]
    upper = [
        p.auroc_ci[1] - a if p and p.auroc_ci and not math.isnan(a) else 0.0 for a, p in zip(auroc, perf, strict=True)
    ]
    validated = [_value(p.validated_auroc) if p else _NAN for p in perf]
    ax.errorbar(
        x,
        auroc,
        yerr=[lower, upper],
        marker="o",
        ms=3,
        lw=1.4,
        capsize=2,
        color="#0b4f6c",
        label=_w("live_auroc", lang),
    )
    ax.plot(x, validated, ls="-", lw=1, color="#5b6875", label=_w("validated_auroc", lang))
    ax.plot(
        x, [v - policy.auroc_drop for v in validated], ls="--", lw=1, color="#b42318", label=_w("auroc_alert", lang)
    )
    ax.set_ylim(0.4, 1.0)
    _legend(ax, lang)
    return fig


def calibration_plot(windows: Sequence[MonitoringWindow], policy: MonitoringPolicy, lang: str) -> Figure:
    """Observed/expected events per window between the policy's lower and upper alert bounds."""
    fig, ax = _new_axes()
    x = _days(windows)
    oe = [_value(w.performance.oe_ratio) if w.performance else _NAN for w in windows]
    ax.plot(x, oe, marker="o", ms=3, lw=1.4, color="#0b4f6c", label=_w("oe_ratio", lang))
    ax.axhline(1.0, color="#5b6875", ls=":", lw=0.8)
    ax.axhline(policy.oe_low, color="#b42318", ls="--", lw=1, label=_w("oe_bounds", lang))
    ax.axhline(policy.oe_high, color="#b42318", ls="--", lw=1)
    finite = [v for v in oe if not math.isnan(v)]
    ax.set_ylim(min([policy.oe_low, *finite]) * 0.9, max([policy.oe_high, *finite]) * 1.1)
    _legend(ax, lang)
    return fig


def activity_plot(windows: Sequence[MonitoringWindow], lang: str) -> Figure:
    """Calls per window (bars) and the 95th percentile of latency (line, right axis)."""
    fig, ax = _new_axes()
    x = _days(windows)
    widths = [(w.end - w.start).total_seconds() / 86400 * 0.8 for w in windows]  # matplotlib dates are in days
    calls = [w.activity.calls for w in windows]
    ax.bar(x, calls, width=widths, color="#9cc9d6", label=_w("calls", lang))
    right = ax.twinx()
    p95 = [_value(w.activity.latency_p95_ms) for w in windows]
    right.plot(x, p95, marker="o", ms=3, lw=1.4, color="#9a6700", label=_w("latency_p95", lang))
    # Headroom above bars and line so the legend does not cover the latest week.
    ax.set_ylim(0, max([1, *calls]) * 1.35)
    right.set_ylim(0, max([1.0, *(v for v in p95 if not math.isnan(v))]) * 1.35)
    _legend(ax, lang, right)
    return fig


def monitoring_svgs(windows: Sequence[MonitoringWindow], policy: MonitoringPolicy, lang: str) -> dict[str, str]:
    """The four plots of a model at a site as inline SVG text, keyed drift / discrimination / calibration / activity."""
    if not windows:
        return {}
    # The same windows give the same plots: a page opened again (or by a colleague) is not drawn again.
    content = json.dumps([[w.model_dump(mode="json") for w in windows], policy.model_dump(mode="json")])
    key = hashlib.sha256(content.encode("utf-8")).hexdigest() + ":" + figure_lang(lang)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = _draw(windows, policy, figure_lang(lang))
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))  # the oldest entry
            _CACHE[key] = cached
        return dict(cached)


def _draw(windows: Sequence[MonitoringWindow], policy: MonitoringPolicy, fl: str) -> dict[str, str]:
    labels = {
        "drift": _w("score_psi", fl),
        "discrimination": _w("live_auroc", fl),
        "calibration": _w("oe_ratio", fl),
        "activity": _w("calls", fl),
    }
    figures = {
        "drift": drift_plot(windows, policy, fl),
        "discrimination": discrimination_plot(windows, policy, fl),
        "calibration": calibration_plot(windows, policy, fl),
        "activity": activity_plot(windows, fl),
    }
    return {key: _svg(fig, labels[key]) for key, fig in figures.items()}
